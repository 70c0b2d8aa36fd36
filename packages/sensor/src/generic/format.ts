/**
 * JSON and compact text of hook-hit events (HookEvent), field-compatible with Tetragon's `process_kprobe`,
 * `process_tracepoint`, `process_lsm` and `process_uprobe`: `function_name` (or `subsys`/`event`, or
 * `path`/`symbol`), typed `args` named as Tetragon's KprobeArgument oneof, `return`, `action` as
 * `KPROBE_ACTION_<NAME>`, `policy_name`, `message`, `tags`. Protobuf JSON mapping as Tetragon emits it: 64-bit
 * integers as strings, bytes as base64, zero values omitted.
 *
 * Vigil's additions: `mechanism` (what served the hook on this node), `monitor_action` (policy-mode monitor: the
 * enforcing action the selector would have taken; `action` is then KPROBE_ACTION_POST) and
 * `rate_limit_suppressed` (events of this hook the rate limit dropped before this one).
 */
import type { HookArg, HookEvent } from '../export/model.js';

type Json = Record<string, unknown>;

/** Tetragon's KprobeAction name for a policy action (Post → KPROBE_ACTION_POST, NoPost → KPROBE_ACTION_NOPOST). */
export function kprobeActionName(action: string): string {
  return `KPROBE_ACTION_${action.toUpperCase()}`;
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;

function withLabel(o: Json, a: HookArg): Json {
  if (a.label) o.label = a.label;
  return o;
}

/** One argument as Tetragon's JSON shows it: `{"<kind>": value}`. */
export function hookArgJson(a: HookArg): Json {
  switch (a.kind) {
    case 'int_arg':
      // int32 in Tetragon's proto: a JSON number; wider values (our int args are 64-bit) fall back to long_arg.
      return withLabel(a.value >= INT32_MIN && a.value <= INT32_MAX ? { int_arg: Number(a.value) } : { long_arg: a.value.toString() }, a);
    case 'uint_arg':
      return withLabel(a.value <= 0xffffffffn && a.value >= 0n ? { uint_arg: Number(a.value) } : { size_arg: BigInt.asUintN(64, a.value).toString() }, a);
    case 'long_arg':
      return withLabel({ long_arg: a.value.toString() }, a);
    case 'size_arg':
      return withLabel({ size_arg: BigInt.asUintN(64, a.value).toString() }, a);
    case 'syscall_id':
      return withLabel({ syscall_id: { id: Number(a.value), abi: 'x64' } }, a);
    case 'string_arg':
      return withLabel({ string_arg: a.value }, a);
    case 'bytes_arg':
      return withLabel({ [a.truncated ? 'truncated_bytes_arg' : 'bytes_arg']: a.truncated ? { bytes_arg: Buffer.from(a.value).toString('base64') } : Buffer.from(a.value).toString('base64') }, a);
    case 'file_arg':
    case 'path_arg':
    case 'linux_binprm_arg': {
      const v: Json = { path: a.path };
      if (a.flags) v.flags = a.flags;
      if (a.permission) v.permission = a.permission;
      return withLabel({ [a.kind]: v }, a);
    }
    case 'sock_arg': {
      const v: Json = { family: a.family, type: a.type, protocol: a.protocol };
      if (a.saddr) v.saddr = a.saddr;
      if (a.daddr) v.daddr = a.daddr;
      if (a.sport) v.sport = a.sport;
      if (a.dport) v.dport = a.dport;
      if (a.state) v.state = a.state;
      return withLabel({ sock_arg: v }, a);
    }
    case 'sockaddr_arg': {
      const v: Json = { family: a.family };
      if (a.addr) v.addr = a.addr;
      if (a.port) v.port = a.port;
      return withLabel({ sockaddr_arg: v }, a);
    }
    case 'capability_arg':
      return withLabel({ capability_arg: { value: a.value, name: a.name } }, a);
    case 'process_credentials_arg':
      return withLabel({ process_credentials_arg: { uid: a.uid, gid: a.gid, euid: a.euid, egid: a.egid } }, a);
    case 'unsupported':
      return withLabel({}, a);
  }
}

/**
 * The body of a hook event after `process` / `parent` (which the JSON formatter renders and memoizes):
 * `,"function_name":…,"args":[…],…` as a JSON fragment starting with a comma.
 */
export function hookEventBodyJson(ev: HookEvent): string {
  const o: Json = {};
  if (ev.eventKind === 'process_tracepoint') {
    if (ev.subsys) o.subsys = ev.subsys;
    if (ev.event) o.event = ev.event;
  } else if (ev.eventKind === 'process_uprobe') {
    if (ev.path) o.path = ev.path;
    if (ev.symbol) o.symbol = ev.symbol;
  } else {
    o.function_name = ev.functionName;
  }
  if (ev.args.length > 0) o.args = ev.args.map(hookArgJson);
  if (ev.returnValue) o.return = hookArgJson(ev.returnValue);
  o.action = kprobeActionName(ev.action);
  o.policy_name = ev.policyName;
  if (ev.message) o.message = ev.message;
  if (ev.tags && ev.tags.length > 0) o.tags = ev.tags;
  o.mechanism = ev.mechanism;
  if (ev.monitorAction) o.monitor_action = kprobeActionName(ev.monitorAction);
  if (ev.suppressed) o.rate_limit_suppressed = ev.suppressed.toString();
  const s = JSON.stringify(o);
  return s === '{}' ? '' : `,${s.slice(1, -1)}`;
}

function argText(a: HookArg): string {
  switch (a.kind) {
    case 'int_arg':
    case 'uint_arg':
    case 'long_arg':
    case 'size_arg':
    case 'syscall_id':
      return a.value.toString();
    case 'string_arg':
      return a.value;
    case 'bytes_arg':
      return `${a.value.length} bytes`;
    case 'file_arg':
    case 'path_arg':
    case 'linux_binprm_arg':
      return a.path;
    case 'sock_arg':
      return `${a.saddr}:${a.sport} → ${a.daddr}:${a.dport}`;
    case 'sockaddr_arg':
      return `${a.addr}:${a.port}`;
    case 'capability_arg':
      return a.name;
    case 'process_credentials_arg':
      return `uid=${a.uid} euid=${a.euid}`;
    case 'unsupported':
      return `(${a.type})`;
  }
}

function firstOf<K extends HookArg['kind']>(ev: HookEvent, ...kinds: K[]): (HookArg & { kind: K }) | undefined {
  for (const k of kinds) {
    const hit = ev.args.find((a): a is HookArg & { kind: K } => a.kind === k);
    if (hit) return hit;
  }
  return undefined;
}

/** The hook name with the syscall prefixes kernels add removed: __x64_sys_write → write. */
function shortName(fn: string): string {
  return fn.replace(/^__(x64|ia32|arm64)_sys_/, '').replace(/^(sys|ksys|security)_/, '');
}

/**
 * One human line, Tetragon-compact style: 🔌 connect, 📚 read, 📝 write, 🔒 LSM hooks, 💥 kills, 🔍 anything else;
 * the outcome (killed / EPERM / monitor: would …) and `(mechanism, policy)` at the end.
 */
export function hookEventCompact(ev: HookEvent, cmd: string): string {
  const name = ev.eventKind === 'process_tracepoint' ? `${ev.subsys ?? ''}/${ev.event ?? ''}` : ev.eventKind === 'process_uprobe' ? `${ev.path ?? ''}:${ev.symbol ?? ''}` : ev.functionName;
  const short = shortName(name);
  let icon = '🔍';
  let verb = short;
  let detail = ev.args.map(argText).filter(Boolean).join(' ');
  if (ev.action === 'Sigkill') icon = '💥';
  else if (ev.eventKind === 'process_lsm') icon = '🔒';
  else if (/connect/.test(short)) icon = '🔌';
  else if (/^(read|pread|readv|vfs_read)/.test(short)) icon = '📚';
  else if (/^(write|pwrite|writev|vfs_write)/.test(short)) icon = '📝';
  if (/connect/.test(short)) {
    verb = 'connect';
    const s = firstOf(ev, 'sock_arg', 'sockaddr_arg');
    if (s) detail = s.kind === 'sock_arg' ? `${s.daddr}:${s.dport}` : `${s.addr}:${s.port}`;
  } else if (icon === '📚' || icon === '📝') {
    verb = icon === '📚' ? 'read' : 'write';
    const f = firstOf(ev, 'file_arg', 'path_arg');
    const n = firstOf(ev, 'size_arg', 'uint_arg', 'int_arg', 'long_arg');
    detail = [f?.path, n ? `${n.value} bytes` : undefined].filter(Boolean).join(' ') || detail;
  }
  const outcome =
    ev.action === 'Sigkill'
      ? ' killed'
      : ev.action === 'Override'
        ? ` ${ev.errorValue === -1 || ev.errorValue === undefined ? 'EPERM' : `error ${ev.errorValue}`}`
        : ev.action === 'Signal'
          ? ' signalled'
          : '';
  const monitor = ev.monitorAction ? ` (monitor: would ${ev.monitorAction})` : '';
  const suppressed = ev.suppressed ? ` [+${ev.suppressed} rate-limited]` : '';
  return `${icon} ${verb.padEnd(7)} ${cmd} ${detail}`.trimEnd() + `${outcome}${monitor}${suppressed} (${ev.mechanism}, policy ${ev.policyName})`;
}

/** The protobuf `Hook` message of an event (export/event-proto.ts): args and return as their Tetragon JSON. */
export function hookMessage(ev: HookEvent, process: Json, parent: Json): Json {
  return {
    process,
    ...parent,
    event_kind: ev.eventKind,
    function_name: ev.eventKind === 'process_tracepoint' ? `${ev.subsys ?? ''}/${ev.event ?? ''}` : ev.eventKind === 'process_uprobe' ? `${ev.path ?? ''}:${ev.symbol ?? ''}` : ev.functionName,
    policy_name: ev.policyName,
    action: kprobeActionName(ev.action),
    mechanism: ev.mechanism,
    args_json: JSON.stringify(ev.args.map(hookArgJson)),
    return_json: ev.returnValue ? JSON.stringify(hookArgJson(ev.returnValue)) : '',
    monitor_action: ev.monitorAction ? kprobeActionName(ev.monitorAction) : '',
    rate_limit_suppressed: String(ev.suppressed ?? 0),
  };
}
