// Macro expansion shared by the validator and the compiler: a selector's `macros` append the clauses of
// spec.selectorsMacros entries to the selector's own. Every clause keeps the JSON path it came from, so an error
// in a macro points into spec.selectorsMacros.
import type { Selector } from './types.js';

export type ClauseListName =
  | 'matchArgs'
  | 'matchData'
  | 'matchReturnArgs'
  | 'matchPIDs'
  | 'matchBinaries'
  | 'matchParentBinaries'
  | 'matchNamespaces'
  | 'matchNamespaceChanges'
  | 'matchCapabilities'
  | 'matchCapabilityChanges'
  | 'matchActions'
  | 'matchReturnActions';

export const CLAUSE_LISTS: readonly ClauseListName[] = [
  'matchArgs',
  'matchData',
  'matchReturnArgs',
  'matchPIDs',
  'matchBinaries',
  'matchParentBinaries',
  'matchNamespaces',
  'matchNamespaceChanges',
  'matchCapabilities',
  'matchCapabilityChanges',
  'matchActions',
  'matchReturnActions',
];

export interface Located<T> {
  value: T;
  path: string;
}

export type ExpandedSelector = {
  [K in ClauseListName]: Located<NonNullable<Selector[K]>[number]>[];
} & { label?: string; matchWorkloads?: Selector['matchWorkloads']; path: string; missingMacros: Located<string>[] };

export function expandSelector(sel: Selector, path: string, macros: Readonly<Record<string, Selector>> | undefined): ExpandedSelector {
  const out = { path, missingMacros: [] as Located<string>[] } as unknown as ExpandedSelector;
  if (sel.label !== undefined) out.label = sel.label;
  for (const list of CLAUSE_LISTS) (out as unknown as Record<string, unknown[]>)[list] = [];
  const add = (s: Selector, base: string): void => {
    for (const list of CLAUSE_LISTS) {
      const items = (s[list] ?? []) as unknown[];
      const target = (out as unknown as Record<string, Located<unknown>[]>)[list];
      items.forEach((value, i) => target?.push({ value, path: `${base}.${list}[${i}]` }));
    }
  };
  add(sel, path);
  let workloads = sel.matchWorkloads;
  (sel.macros ?? []).forEach((name, i) => {
    const m = macros && Object.hasOwn(macros, name) ? macros[name] : undefined;
    if (!m) {
      out.missingMacros.push({ value: name, path: `${path}.macros[${i}]` });
      return;
    }
    add(m, `spec.selectorsMacros.${name}`);
    workloads ??= m.matchWorkloads;
  });
  if (workloads !== undefined) out.matchWorkloads = workloads;
  return out;
}
