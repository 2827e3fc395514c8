import type { Knex } from 'knex';
import type { PackageSet, PackageSetSummary, TemplateReference } from '../domain/package-sets/package-set.ts';
import type { PackageManager, TemplatePackage } from '../domain/templates/template.ts';

interface SetRow {
  id: number;
  name: string;
  description: string;
  created_at: Date;
  updated_at: Date;
}

interface ItemRow {
  set_id: number;
  manager: PackageManager;
  name: string;
  version: string | null;
}

const ITEM_ORDER = "array_position(ARRAY['apt','npm','pip']::package_manager[], manager), name";

const toPackage = (r: ItemRow): TemplatePackage => ({ manager: r.manager, name: r.name, version: r.version });

/** A unique-name violation becomes 'taken' (two people saving the same new name at once). */
async function nameTaken<T>(work: Promise<T>): Promise<T | 'taken'> {
  try {
    return await work;
  } catch (err) {
    if ((err as { code?: string; constraint?: string }).code === '23505' && (err as { constraint?: string }).constraint === 'package_sets_name_unique') return 'taken';
    throw err;
  }
}

export type SetDeleteOutcome = { deleted: true } | { deleted: false; usedBy: TemplateReference[] };

/** The only module that touches package_sets and package_set_items; it reads template_package_sets for usage. */
export class PackageSetsRepository {
  constructor(private readonly knex: Knex) {}

  async list(): Promise<PackageSetSummary[]> {
    const [sets, counts, usage] = await Promise.all([
      this.knex<SetRow>('package_sets').select('id', 'name', 'description').orderBy('name'),
      this.knex('package_set_items').select('set_id', 'manager').count('* as count').groupBy('set_id', 'manager') as Promise<Array<{ set_id: number; manager: PackageManager; count: string }>>,
      this.knex('template_package_sets as r').join('templates as t', 't.id', 'r.template_id').select('r.set_name', 't.name').orderBy('t.name') as Promise<Array<{ set_name: string; name: string }>>,
    ]);
    return sets.map((s) => ({
      id: s.id,
      name: s.name,
      description: s.description,
      counts: {
        apt: Number(counts.find((c) => c.set_id === s.id && c.manager === 'apt')?.count ?? 0),
        npm: Number(counts.find((c) => c.set_id === s.id && c.manager === 'npm')?.count ?? 0),
        pip: Number(counts.find((c) => c.set_id === s.id && c.manager === 'pip')?.count ?? 0),
      },
      usedBy: usage.filter((u) => u.set_name === s.name).map((u) => u.name),
    }));
  }

  async findById(id: number): Promise<PackageSet | undefined> {
    const row = await this.knex<SetRow>('package_sets').where({ id }).first();
    return row && (await this.withItems([row]))[0];
  }

  /** The sets with these names that exist, in the order asked. */
  async findByNames(names: string[]): Promise<PackageSet[]> {
    if (!names.length) return [];
    const rows = await this.knex<SetRow>('package_sets').whereIn('name', names);
    const sets = await this.withItems(rows);
    return names.map((n) => sets.find((s) => s.name === n)).filter((s): s is PackageSet => s !== undefined);
  }

  async names(): Promise<string[]> {
    return (await this.knex('package_sets').select('name').orderBy('name')).map((r: { name: string }) => r.name);
  }

  async create(input: { name: string; description: string }): Promise<number | 'taken'> {
    return nameTaken(
      (async () => {
        const [row] = await this.knex('package_sets').insert({ name: input.name, description: input.description }).returning('id');
        return (row as { id: number }).id;
      })(),
    );
  }

  /** Renames (the templates naming it follow) and describes a set. */
  async update(id: number, input: { name: string; description: string }): Promise<'updated' | 'missing' | 'taken'> {
    return nameTaken(
      this.knex.transaction(async (trx) => {
        const row = await trx<SetRow>('package_sets').where({ id }).forUpdate().first('name');
        if (!row) return 'missing' as const;
        await trx('package_sets').where({ id }).update({ name: input.name, description: input.description, updated_at: trx.fn.now() });
        if (row.name !== input.name) await trx('template_package_sets').where({ set_name: row.name }).update({ set_name: input.name });
        return 'updated' as const;
      }),
    );
  }

  /** Adds packages not yet in the set (a concurrent add of the same one is skipped); returns how many were added. */
  async addPackages(id: number, packages: TemplatePackage[]): Promise<number> {
    if (!packages.length) return 0;
    const rows = await this.knex('package_set_items')
      .insert(packages.map((p) => ({ set_id: id, manager: p.manager, name: p.name, version: p.version })))
      .onConflict(['set_id', 'manager', 'name'])
      .ignore()
      .returning('id');
    await this.knex('package_sets').where({ id }).update({ updated_at: this.knex.fn.now() });
    return rows.length;
  }

  async removePackage(id: number, manager: PackageManager, name: string): Promise<boolean> {
    const removed = await this.knex('package_set_items').where({ set_id: id, manager, name }).delete();
    if (removed) await this.knex('package_sets').where({ id }).update({ updated_at: this.knex.fn.now() });
    return removed > 0;
  }

  async templatesUsing(name: string): Promise<TemplateReference[]> {
    return this.usage(this.knex, name);
  }

  /** Deletes the set unless a template names it; the row lock keeps two deletes (or a rename) from crossing. */
  async deleteUnused(id: number): Promise<SetDeleteOutcome | undefined> {
    return this.knex.transaction(async (trx) => {
      const row = await trx<SetRow>('package_sets').where({ id }).forUpdate().first('name');
      if (!row) return undefined;
      const usedBy = await this.usage(trx, row.name);
      if (usedBy.length) return { deleted: false, usedBy };
      await trx('package_sets').where({ id }).delete();
      return { deleted: true };
    });
  }

  private async usage(db: Knex | Knex.Transaction, name: string): Promise<TemplateReference[]> {
    return db('template_package_sets as r').join('templates as t', 't.id', 'r.template_id').where('r.set_name', name).select('t.id', 't.name', 't.source').orderBy('t.name');
  }

  private async withItems(rows: SetRow[]): Promise<PackageSet[]> {
    if (!rows.length) return [];
    const items = await this.knex<ItemRow>('package_set_items').whereIn('set_id', rows.map((r) => r.id)).orderByRaw(ITEM_ORDER);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      packages: items.filter((i) => i.set_id === r.id).map(toPackage),
    }));
  }
}
