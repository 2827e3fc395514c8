import type { Knex } from 'knex';
import type {
  FilePolicy, PackageManager, Template, TemplateDefinition, TemplateFile, TemplatePackage, TemplateScript, TemplateSource,
  TemplateSummary,
} from '../domain/templates/template.ts';

interface TemplateRow {
  id: number;
  name: string;
  description: string;
  source: TemplateSource;
  path: string | null;
  os_template: string;
  cores: number;
  memory: number;
  swap: number;
  disk: number;
  unprivileged: boolean;
  nesting: boolean;
  tags: string[];
  load_error: string | null;
  created_at: Date;
  updated_at: Date;
}

interface ScriptRow {
  id: number;
  template_id: number;
  name: string;
  position: number;
  content: string;
  enabled: boolean;
}

interface FileRow {
  id: number;
  template_id: number;
  name: string;
  target_path: string;
  content: string;
  mode: string;
  owner: string;
  policy: FilePolicy;
}

interface PackageRow {
  id: number;
  template_id: number;
  manager: PackageManager;
  name: string;
  version: string | null;
}

type SummaryRow = Pick<TemplateRow, 'id' | 'name' | 'description' | 'source' | 'os_template' | 'tags' | 'load_error'> & {
  script_count: string;
  file_count: string;
  package_count: string;
};

const toScript = (r: ScriptRow): TemplateScript => ({ name: r.name, position: r.position, content: r.content, enabled: r.enabled });
const toFile = (r: FileRow): TemplateFile => ({
  name: r.name, targetPath: r.target_path, content: r.content, mode: r.mode, owner: r.owner, policy: r.policy,
});
const toPackage = (r: PackageRow): TemplatePackage => ({ manager: r.manager, name: r.name, version: r.version });

const toSummary = (r: SummaryRow): TemplateSummary => ({
  id: r.id,
  name: r.name,
  description: r.description,
  source: r.source,
  osTemplate: r.os_template,
  tags: r.tags,
  loadError: r.load_error,
  scriptCount: Number(r.script_count),
  fileCount: Number(r.file_count),
  packageCount: Number(r.package_count),
});

const settingsRow = (d: TemplateDefinition) => ({
  name: d.name,
  description: d.description,
  os_template: d.osTemplate,
  cores: d.cores,
  memory: d.memory,
  swap: d.swap,
  disk: d.disk,
  unprivileged: d.unprivileged,
  nesting: d.nesting,
  tags: d.tags,
});

const PACKAGE_ORDER = "array_position(ARRAY['apt','npm','pip']::package_manager[], manager)";

/** A unique-name violation becomes 'taken' (two people saving the same new name at once). */
async function nameTaken<T>(work: Promise<T>): Promise<T | 'taken'> {
  try {
    return await work;
  } catch (err) {
    if ((err as { code?: string; constraint?: string }).code === '23505' && (err as { constraint?: string }).constraint === 'templates_name_unique') return 'taken';
    throw err;
  }
}

export type DeleteOutcome = { deleted: true } | { deleted: false; references: number };

/** The only module that writes templates, template_scripts, template_files, template_packages and template_package_sets. */
export class TemplatesRepository {
  constructor(private readonly knex: Knex) {}

  /** Summaries ordered by name; `q` matches the name or description (case-insensitive), `tag` one of the tags. */
  async list(filter: { q?: string; tag?: string } = {}): Promise<TemplateSummary[]> {
    const count = (table: string, alias: string) => this.knex(table).count('*').whereRaw(`${table}.template_id = templates.id`).as(alias);
    const query = this.knex('templates')
      .select('id', 'name', 'description', 'source', 'os_template', 'tags', 'load_error')
      .select(count('template_scripts', 'script_count'), count('template_files', 'file_count'), count('template_packages', 'package_count'))
      .orderBy('name');
    if (filter.q) {
      const pattern = `%${filter.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      query.where((w) => w.whereILike('name', pattern).orWhereILike('description', pattern));
    }
    if (filter.tag) query.whereRaw('? = ANY(tags)', [filter.tag]);
    const rows = (await query) as SummaryRow[];
    return rows.map(toSummary);
  }

  /** Every tag in use, sorted. */
  async tags(): Promise<string[]> {
    const rows = await this.knex.select(this.knex.raw('DISTINCT unnest(tags) AS tag')).from('templates').orderBy('tag');
    return rows.map((r: { tag: string }) => r.tag);
  }

  async findById(id: number): Promise<Template | undefined> {
    return this.load(this.knex, { id });
  }

  async findByName(name: string): Promise<Template | undefined> {
    return this.load(this.knex, { name });
  }

  /** Name and id of every template loaded from disk, for the catalogue sync. */
  async filesystemTemplates(): Promise<{ id: number; name: string }[]> {
    return this.knex('templates').where({ source: 'filesystem' }).select('id', 'name').orderBy('name');
  }

  /**
   * Inserts or replaces a disk template (settings and children) in one transaction. A broken one is stored with
   * its error and no children. Returns 'taken' when a custom template already has the name.
   */
  async upsertFilesystem(definition: TemplateDefinition, dir: string, loadError: string | null): Promise<{ id: number } | 'taken'> {
    return this.knex.transaction(async (trx) => {
      // The row lock serialises two processes syncing the same template at once.
      const existing = await trx<TemplateRow>('templates').where({ name: definition.name }).forUpdate().first('id', 'source');
      if (existing?.source === 'custom') return 'taken';
      const values = { ...settingsRow(definition), source: 'filesystem' as const, path: dir, load_error: loadError, updated_at: trx.fn.now() };
      let id: number;
      if (existing) {
        await trx('templates').where({ id: existing.id }).update(values);
        id = existing.id;
      } else {
        // Another process may have inserted it since the SELECT; a custom template of that name is never overwritten.
        const [row] = await trx('templates').insert(values).onConflict('name').merge().where('templates.source', 'filesystem').returning('id');
        if (!row) return 'taken';
        id = (row as { id: number }).id;
      }
      await this.replaceChildren(trx, id, loadError === null ? definition : { ...definition, scripts: [], files: [], packages: [], packageSets: [] });
      return { id };
    });
  }

  /** Returns the new id, or 'taken' when another template has the name. */
  async createCustom(definition: TemplateDefinition): Promise<number | 'taken'> {
    return nameTaken(
      this.knex.transaction(async (trx) => {
        const [row] = await trx('templates').insert({ ...settingsRow(definition), source: 'custom', path: null, load_error: null }).returning('id');
        const id = (row as { id: number }).id;
        await this.replaceChildren(trx, id, definition);
        return id;
      }),
    );
  }

  /** Replaces a custom template's settings and children: 'missing' when there is no custom template with that id. */
  async updateCustom(id: number, definition: TemplateDefinition): Promise<'updated' | 'missing' | 'taken'> {
    return nameTaken(
      this.knex.transaction(async (trx) => {
        const updated = await trx('templates')
          .where({ id, source: 'custom' })
          .update({ ...settingsRow(definition), updated_at: trx.fn.now() });
        if (!updated) return 'missing' as const;
        await this.replaceChildren(trx, id, definition);
        return 'updated' as const;
      }),
    );
  }

  /** Containers (other than destroyed ones) that were built from this template. */
  async referenceCount(id: number): Promise<number> {
    return this.countReferences(this.knex, id);
  }

  /**
   * Deletes the template unless a live container references it. The row lock conflicts with the key-share lock
   * a concurrent container INSERT takes on the template, so no reference can slip in between count and delete.
   */
  async deleteUnreferenced(id: number): Promise<DeleteOutcome | undefined> {
    return this.knex.transaction(async (trx) => {
      const row = await trx('templates').where({ id }).forUpdate().first('id');
      if (!row) return undefined;
      const references = await this.countReferences(trx, id);
      if (references > 0) return { deleted: false, references };
      await trx('templates').where({ id }).delete();
      return { deleted: true };
    });
  }

  /** Removes disk templates that are gone from disk; containers keep their record (template_id becomes NULL). */
  async deleteByIds(ids: number[]): Promise<void> {
    if (ids.length) await this.knex('templates').whereIn('id', ids).delete();
  }

  private async countReferences(db: Knex | Knex.Transaction, id: number): Promise<number> {
    const row = await db('containers').where({ template_id: id }).whereNot({ lifecycle: 'destroyed' }).count<{ count: string }[]>('* as count').first();
    return Number(row?.count ?? 0);
  }

  private async load(db: Knex, where: { id: number } | { name: string }): Promise<Template | undefined> {
    const row = await db<TemplateRow>('templates').where(where).first();
    if (!row) return undefined;
    const [scripts, files, packages, sets] = await Promise.all([
      db<ScriptRow>('template_scripts').where({ template_id: row.id }).orderBy('position').orderBy('name'),
      db<FileRow>('template_files').where({ template_id: row.id }).orderBy('name'),
      db<PackageRow>('template_packages').where({ template_id: row.id }).orderByRaw(`${PACKAGE_ORDER}, name`),
      db('template_package_sets').where({ template_id: row.id }).orderBy('position').select('set_name') as Promise<Array<{ set_name: string }>>,
    ]);
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      source: row.source,
      path: row.path,
      osTemplate: row.os_template,
      cores: row.cores,
      memory: row.memory,
      swap: row.swap,
      disk: row.disk,
      unprivileged: row.unprivileged,
      nesting: row.nesting,
      tags: row.tags,
      loadError: row.load_error,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      scripts: scripts.map(toScript),
      files: files.map(toFile),
      packages: packages.map(toPackage),
      packageSets: sets.map((r) => r.set_name),
    };
  }

  private async replaceChildren(trx: Knex.Transaction, templateId: number, d: Pick<TemplateDefinition, 'scripts' | 'files' | 'packages' | 'packageSets'>): Promise<void> {
    for (const table of ['template_scripts', 'template_files', 'template_packages', 'template_package_sets']) await trx(table).where({ template_id: templateId }).delete();
    if (d.packageSets?.length) {
      await trx('template_package_sets').insert(d.packageSets.map((name, index) => ({ template_id: templateId, set_name: name, position: index + 1 })));
    }
    if (d.scripts.length) {
      await trx('template_scripts').insert(
        d.scripts.map((s) => ({ template_id: templateId, name: s.name, position: s.position, content: s.content, enabled: s.enabled })),
      );
    }
    if (d.files.length) {
      await trx('template_files').insert(
        d.files.map((f) => ({
          template_id: templateId, name: f.name, target_path: f.targetPath, content: f.content, mode: f.mode, owner: f.owner, policy: f.policy,
        })),
      );
    }
    if (d.packages.length) {
      await trx('template_packages').insert(d.packages.map((p) => ({ template_id: templateId, manager: p.manager, name: p.name, version: p.version })));
    }
  }
}
