// Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`). CRDs print a Name column
// plus their additionalPrinterColumns (an Age column on .metadata.creationTimestamp when none are declared);
// `date` cells are rendered by the server as a human duration ("5m", "2d3h"), exactly like
// apiextensions-apiserver's table convertor, so kubectl prints the cells as they come.
import { evaluateJsonPath } from './jsonpath.js';
import type { Obj } from './store.js';

export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface PrinterColumn {
  name: string;
  type: 'integer' | 'number' | 'string' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  format?: string;
  priority?: number;
}

export interface TableRow {
  cells: unknown[];
  object?: Obj;
}

export const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';

export const CREATION_TIMESTAMP_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

/** k8s.io/apimachinery/pkg/util/duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.floor(seconds / 3600);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.floor(hours / 24) % 365;
    return dy === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

/** Age of a timestamp as printers show it; `<unknown>` when absent. */
export function age(timestamp: unknown, now: number): string {
  if (typeof timestamp !== 'string' || timestamp === '') return '<unknown>';
  const t = Date.parse(timestamp);
  if (Number.isNaN(t)) return '<invalid>';
  return humanDuration(now - t);
}

function cellFor(col: PrinterColumn, value: unknown, now: number): unknown {
  if (value === undefined || value === null) return null;
  switch (col.type) {
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'date':
      return typeof value === 'string' ? age(value, now) : null;
    case 'string':
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

export const DEFAULT_CRD_COLUMNS: PrinterColumn[] = [
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: CREATION_TIMESTAMP_DESCRIPTION },
];

/** A table printer: columns and one row of cells per object. */
export interface TablePrinter {
  columns: TableColumnDefinition[];
  cells(obj: Obj, now: number): unknown[];
}

export function nameColumn(): TableColumnDefinition {
  return { name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION, priority: 0 };
}

export function crdPrinter(columns: PrinterColumn[] | undefined): TablePrinter {
  const cols = columns && columns.length > 0 ? columns : DEFAULT_CRD_COLUMNS;
  return {
    columns: [
      nameColumn(),
      ...cols.map((c) => ({
        name: c.name,
        type: c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
    ],
    cells(obj, now) {
      const name = (obj.metadata as { name?: string } | undefined)?.name ?? '';
      return [
        name,
        ...cols.map((c) => {
          let found: unknown[];
          try {
            found = evaluateJsonPath(c.jsonPath, obj);
          } catch {
            return null;
          }
          return cellFor(c, found[0], now);
        }),
      ];
    },
  };
}

/** rest.NewDefaultTableConvertor: Name and "Created At" (an RFC 3339 timestamp, not an age). */
export const DEFAULT_PRINTER: TablePrinter = {
  columns: [
    nameColumn(),
    { name: 'Created At', type: 'date', format: '', description: CREATION_TIMESTAMP_DESCRIPTION, priority: 0 },
  ],
  cells(obj) {
    const m = (obj.metadata ?? {}) as { name?: string; creationTimestamp?: string };
    return [m.name ?? '', m.creationTimestamp ?? null];
  },
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function partialObjectMetadata(obj: Obj, tableApiVersion: string): Obj {
  return { kind: 'PartialObjectMetadata', apiVersion: tableApiVersion, metadata: obj.metadata };
}

export function buildTable(
  printer: TablePrinter,
  objects: Obj[],
  opts: { now: number; include: IncludeObject; tableApiVersion: string; listMeta: Obj },
): Obj {
  return {
    kind: 'Table',
    apiVersion: opts.tableApiVersion,
    metadata: opts.listMeta,
    columnDefinitions: printer.columns,
    rows: objects.map((o) => {
      const row: TableRow = { cells: printer.cells(o, opts.now) };
      if (opts.include === 'Object') row.object = o;
      else if (opts.include === 'Metadata') row.object = partialObjectMetadata(o, opts.tableApiVersion);
      return row;
    }),
  };
}
