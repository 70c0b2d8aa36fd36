// Every limit the validator enforces, by name. docs/policy-limits.md lists them; an error that trips one names it.
// They size the BPF side (fixed-size map values, bounded loops), so raising one is an ABI change.

export const LIMITS = {
  /** Hooks (kprobes + tracepoints + uprobes + usdts + lsmhooks + fentries) in one policy. */
  MAX_HOOKS_PER_POLICY: 256,
  /** Selectors under one hook; the BPF selector loop is unrolled to this bound. */
  MAX_SELECTORS_PER_HOOK: 5,
  /** args[] (and data[]) entries of one hook. */
  MAX_ARGS_PER_HOOK: 6,
  /** Largest args[].index / data[].index / sizeArgIndex (one byte in the hook's arg table). */
  MAX_ARG_INDEX: 255,
  /** matchArgs (likewise matchData, matchReturnArgs) entries in one selector. */
  MAX_MATCH_ARGS_PER_SELECTOR: 5,
  /** values of one matchArgs / matchData / matchReturnArgs entry (set-style operators use maps, see below). */
  MAX_VALUES_PER_MATCH_ARG: 64,
  /** values of one matchBinaries / matchParentBinaries entry. */
  MAX_BINARIES_PER_SELECTOR: 128,
  /** Bytes of one binary path value (the kernel path buffer the exec hook fills). */
  MAX_BINARY_PATH_BYTES: 255,
  /** Bytes of one string value compared by Equal/Prefix/Postfix/SubString on a string argument. */
  MAX_STRING_VALUE_BYTES: 255,
  /** Bytes of one Prefix/Postfix value (args and binaries): an LPM trie key holds 256 bytes after its prefix
   *  length, 4 of which are the set id (bpf/lib/generic.h vg_prefix key), so longer prefixes cannot be compared. */
  MAX_PREFIX_VALUE_BYTES: 252,
  /** values of one matchPIDs entry. */
  MAX_PIDS_PER_SELECTOR: 16,
  /** values of one matchNamespaces entry. */
  MAX_NAMESPACE_VALUES: 16,
  /** matchActions (likewise matchReturnActions) entries in one selector. */
  MAX_ACTIONS_PER_SELECTOR: 8,
  /** values of one spec.lists entry. */
  MAX_LIST_VALUES: 1024,
  /** Bytes of a CelExpr expression. */
  MAX_CEL_EXPR_BYTES: 4096,
  /** Bytes of one compiled selector program (all selectors of one hook) — the value size of vg_sel_prog. */
  MAX_SELECTOR_PROGRAM_BYTES: 4096,
  /** Bytes of a hook's message. */
  MAX_MESSAGE_BYTES: 256,
  /** tags[] of one hook (Tetragon's CRD says 16 as well). */
  MAX_TAGS_PER_HOOK: 16,
  /** failures[] kept in status.nodes. */
  MAX_STATUS_FAILURES: 16,
} as const;

export type LimitName = keyof typeof LIMITS;

/** What each limit means, for docs/policy-limits.md and error hints. */
export const LIMIT_DOCS: Readonly<Record<LimitName, string>> = {
  MAX_HOOKS_PER_POLICY: 'hooks (all hook lists together) in one policy',
  MAX_SELECTORS_PER_HOOK: 'selectors under one hook',
  MAX_ARGS_PER_HOOK: 'args[] or data[] entries of one hook',
  MAX_ARG_INDEX: 'value of args[].index, data[].index and sizeArgIndex',
  MAX_MATCH_ARGS_PER_SELECTOR: 'matchArgs / matchData / matchReturnArgs entries in one selector',
  MAX_VALUES_PER_MATCH_ARG: 'values of one matchArgs / matchData / matchReturnArgs entry',
  MAX_BINARIES_PER_SELECTOR: 'values of one matchBinaries / matchParentBinaries entry',
  MAX_BINARY_PATH_BYTES: 'UTF-8 bytes of one binary path',
  MAX_STRING_VALUE_BYTES: 'UTF-8 bytes of one string value in matchArgs / matchData',
  MAX_PREFIX_VALUE_BYTES: 'UTF-8 bytes of one Prefix / Postfix value (matchArgs, matchData, matchBinaries): the kernel prefix trie key size',
  MAX_PIDS_PER_SELECTOR: 'values of one matchPIDs entry',
  MAX_NAMESPACE_VALUES: 'values of one matchNamespaces entry',
  MAX_ACTIONS_PER_SELECTOR: 'matchActions / matchReturnActions entries in one selector',
  MAX_LIST_VALUES: 'values of one spec.lists entry',
  MAX_CEL_EXPR_BYTES: 'UTF-8 bytes of one CelExpr expression',
  MAX_SELECTOR_PROGRAM_BYTES: 'bytes of the compiled selector program of one hook (enforced by the compiler)',
  MAX_MESSAGE_BYTES: 'UTF-8 bytes of a hook message',
  MAX_TAGS_PER_HOOK: 'tags of one hook',
  MAX_STATUS_FAILURES: 'node failures kept in status.nodes.failures',
};
