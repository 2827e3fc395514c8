// Every migration, in order. Listing them as static imports lets the same code run under tsx, vitest and the knex
// CLI without a TypeScript loader for dynamic imports. Add a new migration file here as well.
import type { Knex } from 'knex';
import * as createUsersAndSettings from '../../migrations/20261127000100_create_users_and_settings.ts';
import * as createNodes from '../../migrations/20261127000200_create_nodes.ts';
import * as createTemplates from '../../migrations/20261127000300_create_templates.ts';
import * as createContainers from '../../migrations/20261127000400_create_containers.ts';
import * as addCurrentActionToContainers from '../../migrations/20261127000500_add_current_action_to_containers.ts';
import * as addRunLeaseToContainers from '../../migrations/20261127000600_add_run_lease_to_containers.ts';
import * as createPackageSets from '../../migrations/20261128000100_create_package_sets.ts';
import * as letDestroyedContainersOutliveTheirNode from '../../migrations/20261128001000_let_destroyed_containers_outlive_their_node.ts';
import * as addMarksAndTasksToContainers from '../../migrations/20261128002000_add_marks_and_tasks_to_containers.ts';
import * as addRoleAndDisabledToUsers from '../../migrations/20261128100000_add_role_and_disabled_to_users.ts';
import * as backfillUserRoles from '../../migrations/20261128100100_backfill_user_roles.ts';
import * as requireUserRole from '../../migrations/20261128100200_require_user_role.ts';
import * as createUserInvites from '../../migrations/20261128100300_create_user_invites.ts';
import * as createApiTokens from '../../migrations/20261128110000_create_api_tokens.ts';
import * as createAuditEntries from '../../migrations/20261128110100_create_audit_entries.ts';
import * as createTemplateTestRuns from '../../migrations/20261128140000_create_template_test_runs.ts';
import * as createContainerHistory from '../../migrations/20261129000100_create_container_history.ts';
import * as addPveUseridToUsers from '../../migrations/20261129000200_add_pve_userid_to_users.ts';
import * as addDedupeKeyToContainerHistory from '../../migrations/20261129000300_add_dedupe_key_to_container_history.ts';
import * as backfillBuildHistory from '../../migrations/20261129000400_backfill_build_history.ts';
import * as addUnitToContainerServices from '../../migrations/20261130000100_add_unit_to_container_services.ts';
import * as createContainerHealthChecks from '../../migrations/20261130000200_create_container_health_checks.ts';
import * as addCurrentActionByToContainers from '../../migrations/20261202000100_add_current_action_by_to_containers.ts';
import * as checkContainerEventsOwnerInAppend from '../../migrations/20261201000100_check_container_events_owner_in_append.ts';
import * as addPurposeToUserInvites from '../../migrations/20261203000100_add_purpose_to_user_invites.ts';
import * as addFailureKindToContainers from '../../migrations/20261203000200_add_failure_kind_to_containers.ts';

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

const MIGRATIONS: Array<[name: string, migration: Migration]> = [
  ['20261127000100_create_users_and_settings.ts', createUsersAndSettings],
  ['20261127000200_create_nodes.ts', createNodes],
  ['20261127000300_create_templates.ts', createTemplates],
  ['20261127000400_create_containers.ts', createContainers],
  ['20261127000500_add_current_action_to_containers.ts', addCurrentActionToContainers],
  ['20261127000600_add_run_lease_to_containers.ts', addRunLeaseToContainers],
  ['20261128000100_create_package_sets.ts', createPackageSets],
  ['20261128001000_let_destroyed_containers_outlive_their_node.ts', letDestroyedContainersOutliveTheirNode],
  ['20261128002000_add_marks_and_tasks_to_containers.ts', addMarksAndTasksToContainers],
  ['20261128100000_add_role_and_disabled_to_users.ts', addRoleAndDisabledToUsers],
  ['20261128100100_backfill_user_roles.ts', backfillUserRoles],
  ['20261128100200_require_user_role.ts', requireUserRole],
  ['20261128100300_create_user_invites.ts', createUserInvites],
  ['20261128110000_create_api_tokens.ts', createApiTokens],
  ['20261128110100_create_audit_entries.ts', createAuditEntries],
  ['20261128140000_create_template_test_runs.ts', createTemplateTestRuns],
  ['20261129000100_create_container_history.ts', createContainerHistory],
  ['20261129000200_add_pve_userid_to_users.ts', addPveUseridToUsers],
  ['20261129000300_add_dedupe_key_to_container_history.ts', addDedupeKeyToContainerHistory],
  ['20261129000400_backfill_build_history.ts', backfillBuildHistory],
  ['20261130000100_add_unit_to_container_services.ts', addUnitToContainerServices],
  ['20261130000200_create_container_health_checks.ts', createContainerHealthChecks],
  ['20261201000100_check_container_events_owner_in_append.ts', checkContainerEventsOwnerInAppend],
  ['20261202000100_add_current_action_by_to_containers.ts', addCurrentActionByToContainers],
  ['20261203000100_add_purpose_to_user_invites.ts', addPurposeToUserInvites],
  ['20261203000200_add_failure_kind_to_containers.ts', addFailureKindToContainers],
];

export const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  getMigrations: async () => MIGRATIONS,
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};
