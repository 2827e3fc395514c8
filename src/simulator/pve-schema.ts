// The official API schema subset (schema/pve-api-schema-subset.json, a verbatim copy of
// reference/pve-api-schema-subset.json, extracted from proxmox/pve-docs) loaded at run time: it defines which
// paths exist and how every parameter is checked. The checks and their texts follow pve-common JSONSchema.pm
// (check_prop, check_type, parse_property_string); see reference/proxmox-api.md §2.2.
import { readFileSync } from 'node:fs';
import { FORMAT_VERIFIERS } from './pve-formats.ts';

export interface ParamSchema {
  type?: string;
  /** A named format, or the inline key schema of a property string (net[n], rootfs, features). */
  format?: string | Record<string, ParamSchema>;
  optional?: number;
  default_key?: number;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  enum?: string[];
  requires?: string;
  default?: unknown;
}

export interface MethodSchema {
  name?: string;
  /** 0: an API token is refused (403) even where it is valid, e.g. `POST /access/ticket`. */
  allowtoken?: number;
  parameters?: { properties?: Record<string, ParamSchema>; additionalProperties?: number };
  returns?: unknown;
}

export interface RouteMatch {
  /** The schema path, e.g. `/nodes/{node}/lxc/{vmid}`. */
  route: string;
  method: string;
  schema: MethodSchema;
  /** Decoded path placeholders. */
  pathParams: Record<string, string>;
}

/** Values after validation: integers and numbers as numbers, booleans as 0/1, everything else as text. */
export type ParamValues = Record<string, string | number>;

export interface ValidationResult {
  values: ParamValues;
  /** Per-parameter messages exactly as Proxmox words them; empty when the request is valid. */
  errors: Record<string, string>;
}

const SCHEMA_FILE = new URL('./schema/pve-api-schema-subset.json', import.meta.url);

// Numbered keys the API viewer collapsed into `net[n]`, with how many Proxmox allows.
const INDEXED_LIMITS: Record<string, number> = { net: 32, mp: 256, unused: 256, dev: 256 };

export class PveSchema {
  private readonly routes: { route: string; regex: RegExp; names: string[]; methods: Record<string, MethodSchema> }[];

  constructor(document: { paths: Record<string, Record<string, MethodSchema>> }) {
    this.routes = Object.entries(document.paths).map(([route, methods]) => {
      const names: string[] = [];
      const pattern = route.replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      return { route, regex: new RegExp(`^${pattern}$`), names, methods };
    });
  }

  static load(file: URL | string = SCHEMA_FILE): PveSchema {
    return new PveSchema(JSON.parse(readFileSync(file, 'utf8')) as { paths: Record<string, Record<string, MethodSchema>> });
  }

  /** The schema of one method, e.g. ('/nodes/{node}/lxc', 'POST'); throws if the subset lacks it. */
  method(route: string, method: string): MethodSchema {
    const schema = this.routes.find((r) => r.route === route)?.methods[method];
    if (!schema) throw new Error(`The API schema has no ${method} ${route}`);
    return schema;
  }

  /** The inline format of a property-string parameter such as `net[n]`, `rootfs` or `features`. */
  propertyFormat(route: string, method: string, name: string): Record<string, ParamSchema> {
    const format = this.method(route, method).parameters?.properties?.[name]?.format;
    if (!format || typeof format === 'string') throw new Error(`${method} ${route} ${name} is not a property string`);
    return format;
  }

  /** Finds the schema entry for a request path below /api2/json, or undefined (→ 501). */
  match(method: string, path: string): RouteMatch | undefined {
    const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
    for (const r of this.routes) {
      const m = r.regex.exec(trimmed);
      if (!m) continue;
      const schema = r.methods[method];
      if (!schema) return undefined;
      const pathParams: Record<string, string> = {};
      r.names.forEach((name, i) => {
        pathParams[name] = safeDecode(m[i + 1] ?? '');
      });
      return { route: r.route, method, schema, pathParams };
    }
    return undefined;
  }

  /** Checks every parameter (path placeholders included) against the method's schema. */
  validate(schema: MethodSchema, params: Record<string, unknown>): ValidationResult {
    const properties = schema.parameters?.properties ?? {};
    const errors: Record<string, string> = {};
    const values: ParamValues = {};
    for (const [key, raw] of Object.entries(params)) {
      if (raw === undefined || raw === null) continue;
      const prop = lookupProperty(properties, key);
      if (!prop) {
        if (!schema.parameters?.additionalProperties) {
          errors[key] = 'property is not defined in schema and the schema does not allow additional properties';
        }
        continue;
      }
      const value = checkProp(prop, raw, key, errors);
      if (value !== undefined) values[key] = value;
    }
    for (const [key, prop] of Object.entries(properties)) {
      if (key.includes('[n]')) continue;
      if (!prop.optional && (params[key] === undefined || params[key] === null)) {
        errors[key] = 'property is missing and it is not optional';
      }
      if (prop.requires && params[key] !== undefined && params[prop.requires] === undefined) {
        errors[prop.requires] = `missing property required by '${key}'`;
      }
    }
    return { values, errors };
  }
}

function lookupProperty(properties: Record<string, ParamSchema>, key: string): ParamSchema | undefined {
  const direct = properties[key];
  if (direct) return direct;
  const m = /^([a-z]+)(\d+)$/.exec(key);
  if (!m) return undefined;
  const [, base = '', index = ''] = m;
  const limit = INDEXED_LIMITS[base];
  if (limit === undefined || Number(index) >= limit || String(Number(index)) !== index) return undefined;
  return properties[`${base}[n]`];
}

/** One parameter: type, then format (returning on error), then pattern, lengths, range, enum — as check_prop. */
function checkProp(prop: ParamSchema, raw: unknown, path: string, errors: Record<string, string>): string | number | undefined {
  const typed = checkType(prop.type ?? 'string', raw);
  if (typeof typed === 'object') {
    errors[path] = typed.error;
    return undefined;
  }
  if (typeof typed === 'string') {
    if (prop.format !== undefined) {
      const err = typeof prop.format === 'string' ? FORMAT_VERIFIERS[prop.format]?.(typed) : propertyStringError(prop.format, typed, path);
      if (err !== undefined) {
        errors[path] = `invalid format - ${err}${err.endsWith('\n') ? '' : '\n'}`;
        return undefined;
      }
    }
    if (prop.pattern !== undefined && !perlPattern(prop.pattern).test(typed)) {
      errors[path] = 'value does not match the regex pattern';
      return undefined;
    }
    if (prop.maxLength !== undefined && typed.length > prop.maxLength) {
      errors[path] = `value may only be ${prop.maxLength} characters long`;
      return undefined;
    }
    if (prop.minLength !== undefined && typed.length < prop.minLength) {
      errors[path] = `value must be at least ${prop.minLength} characters long`;
      return undefined;
    }
  } else {
    if (prop.type !== 'boolean' && prop.format !== undefined && typeof prop.format === 'string') {
      const err = FORMAT_VERIFIERS[prop.format]?.(String(typed));
      if (err !== undefined) {
        errors[path] = `invalid format - ${err}\n`;
        return undefined;
      }
    }
    if (prop.maximum !== undefined && typed > prop.maximum) {
      errors[path] = `value must have a maximum value of ${prop.maximum}`;
      return undefined;
    }
    if (prop.minimum !== undefined && typed < prop.minimum) {
      errors[path] = `value must have a minimum value of ${prop.minimum}`;
      return undefined;
    }
  }
  if (prop.enum && !prop.enum.includes(String(typed))) {
    errors[path] = `value '${String(typed)}' does not have a value in the enumeration '${prop.enum.join(', ')}'`;
    return undefined;
  }
  return typed;
}

/**
 * Form values arrive as text; JSON bodies may carry real numbers and booleans (accepted, as Proxmox does).
 * Booleans in text must be exactly 0 or 1.
 */
function checkType(type: string, raw: unknown): string | number | { error: string } {
  const text = typeof raw === 'string' ? raw : JSON.stringify(raw);
  const fail = { error: `type check ('${type}') failed - got '${typeof raw === 'string' ? raw : String(raw)}'` };
  switch (type) {
    case 'integer':
      if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
      return typeof raw === 'string' && /^[+-]?\d+$/.test(raw) ? Number(raw) : fail;
    case 'number':
      if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
      return typeof raw === 'string' && /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(raw) ? Number(raw) : fail;
    case 'boolean':
      if (raw === true || raw === 1 || raw === '1') return 1;
      if (raw === false || raw === 0 || raw === '0') return 0;
      return fail;
    case 'string':
      if (typeof raw === 'string') return raw;
      return typeof raw === 'number' ? text : fail;
    default:
      return typeof raw === 'string' ? raw : text;
  }
}

/** Perl patterns from the schema (`(?^:…)`) are anchored on both ends when Proxmox applies them. */
function perlPattern(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern.replace(/\(\?\^:/g, '(?:')})$`);
}

export type PropertyStringValues = Record<string, string | number>;

/**
 * Parses `key=value,…` against an inline format (parse_property_string): unknown and duplicate keys fail at once;
 * otherwise each key is checked like a parameter, with nested paths such as `net0.ip`.
 */
export function parsePropertyString(
  format: Record<string, ParamSchema>,
  value: string,
  path: string,
): { values: PropertyStringValues; error?: string } {
  const raw: Record<string, string> = {};
  let defaultKey: string | undefined;
  for (const part of value.split(',')) {
    if (/^\s*$/.test(part)) continue;
    const kv = /^([^=]+)=(.+)$/.exec(part);
    if (kv) {
      const [, k = '', v = ''] = kv;
      if (raw[k] !== undefined) return { values: {}, error: `duplicate key in comma-separated list property: ${k}` };
      const schema = format[k];
      if (!schema) return { values: {}, error: `invalid key in comma-separated list property: ${k}` };
      raw[k] = schema.type === 'boolean' ? parseBoolean(v) : v;
    } else if (!part.includes('=')) {
      if (defaultKey) return { values: {}, error: `duplicate key in comma-separated list property: ${defaultKey}` };
      defaultKey = Object.keys(format).find((k) => format[k]?.default_key);
      if (!defaultKey) return { values: {}, error: 'value without key, but schema does not define a default key' };
      if (raw[defaultKey] !== undefined) return { values: {}, error: `duplicate key in comma-separated list property: ${defaultKey}` };
      raw[defaultKey] = part;
    } else {
      return { values: {}, error: 'missing key in comma-separated list property' };
    }
  }
  const errors: Record<string, string> = {};
  const values: PropertyStringValues = {};
  for (const [k, v] of Object.entries(raw)) {
    const checked = checkProp(format[k]!, v, `${path}.${k}`, errors);
    if (checked !== undefined) values[k] = checked;
  }
  for (const [k, schema] of Object.entries(format)) {
    if (!schema.optional && raw[k] === undefined) errors[`${path}.${k}`] = 'property is missing and it is not optional';
  }
  const keys = Object.keys(errors).sort();
  if (keys.length === 0) return { values };
  return { values, error: `format error\n${keys.map((k) => `${k}: ${errors[k]!.replace(/\n$/, '')}\n`).join('')}` };
}

function propertyStringError(format: Record<string, ParamSchema>, value: string, path: string): string | undefined {
  return parsePropertyString(format, value, path).error;
}

function parseBoolean(v: string): string {
  if (/^(?:1|on|yes|true)$/i.test(v)) return '1';
  if (/^(?:0|off|no|false)$/i.test(v)) return '0';
  return v;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
