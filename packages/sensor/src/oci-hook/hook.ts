/**
 * vigil-oci-hook: an OCI runtime hook (createRuntime or createContainer stage) that tells the node's sensor about
 * a container before its first process runs, so identity-scoped policies apply from the first instruction.
 *
 * The runtime runs it with the container's state JSON on stdin ({ociVersion, id, status, pid, bundle,
 * annotations}); at createRuntime the container's init process exists in its final cgroup and has not started the
 * user's program yet. The hook reads that cgroup from /proc/<pid>/cgroup, takes the pod and container names from
 * the CRI annotations (CRI-O: io.kubernetes.pod.*, io.kubernetes.container.name; containerd:
 * io.kubernetes.cri.sandbox-*, io.kubernetes.cri.container-name), sends one line to the sensor's unix socket and
 * waits for its answer.
 *
 * If the sensor does not answer in --timeout-ms (default 2000) or refuses: --fail-open (default) lets the
 * container start (exit 0, one line on stderr), --fail-closed makes the runtime abort its creation (exit 1).
 * Pod sandboxes (pause containers) are registered like any container.
 *
 * Run at the poststop stage too (the state's status is "stopped"), it tells the sensor the container is gone, so
 * the registration is dropped at once (the sensor also drops registrations whose cgroup disappeared, for runtimes
 * that never run poststop). A poststop failure only logs: the container is gone either way (exit 0).
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface HookOptions {
  socket: string;
  timeoutMs: number;
  failClosed: boolean;
  procRoot: string;
}

export interface OciState {
  id: string;
  /** creating | created | running | stopped (poststop) */
  status?: string;
  pid?: number;
  bundle?: string;
  annotations?: Record<string, string>;
}

export function parseArgs(argv: readonly string[]): HookOptions {
  const o: HookOptions = { socket: '/run/vigil/hook.sock', timeoutMs: 2000, failClosed: false, procRoot: '/proc' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--socket') o.socket = val();
    else if (a === '--timeout-ms') {
      o.timeoutMs = Number(val());
      if (!Number.isInteger(o.timeoutMs) || o.timeoutMs <= 0) throw new Error('--timeout-ms must be a positive integer (milliseconds)');
    } else if (a === '--fail-closed') o.failClosed = true;
    else if (a === '--fail-open') o.failClosed = false;
    else if (a === '--proc') o.procRoot = val();
    else throw new Error(`unknown option ${a} (options: --socket PATH, --timeout-ms N, --fail-open, --fail-closed)`);
  }
  return o;
}

export function parseState(text: string): OciState {
  let s: unknown;
  try {
    s = JSON.parse(text);
  } catch {
    throw new Error('stdin is not the OCI state JSON');
  }
  const o = s as Record<string, unknown>;
  if (!o || typeof o['id'] !== 'string') throw new Error('OCI state: "id" missing');
  const st: OciState = { id: o['id'] };
  if (typeof o['status'] === 'string') st.status = o['status'];
  if (typeof o['pid'] === 'number') st.pid = o['pid'];
  if (typeof o['bundle'] === 'string') st.bundle = o['bundle'];
  if (o['annotations'] && typeof o['annotations'] === 'object') st.annotations = o['annotations'] as Record<string, string>;
  return st;
}

/** What the hook sends: container id, cgroup path (of the init pid) and the CRI's pod/container annotations. */
export function registration(state: OciState, procRoot: string): Record<string, unknown> {
  if (!/^[0-9a-f]{64}$/.test(state.id)) throw new Error(`container id ${JSON.stringify(state.id)} is not 64 hex digits`);
  if (!state.pid) throw new Error('OCI state has no pid: run the hook at the createRuntime or createContainer stage');
  let ann = state.annotations ?? {};
  if (Object.keys(ann).length === 0 && state.bundle) {
    try {
      const cfg = JSON.parse(readFileSync(join(state.bundle, 'config.json'), 'utf8')) as { annotations?: Record<string, string> };
      ann = cfg.annotations ?? {};
    } catch {
      // no annotations: the sensor still learns the container and its cgroup
    }
  }
  const line = readFileSync(join(procRoot, String(state.pid), 'cgroup'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('0::'));
  if (!line) throw new Error(`process ${state.pid} has no cgroup v2 path`);
  const msg: Record<string, unknown> = { v: 1, containerId: state.id, pid: state.pid, cgroupPath: line.slice(3) };
  const pick = (...keys: string[]) => keys.map((k) => ann[k]).find((v) => typeof v === 'string' && v !== '');
  const fields: Record<string, string | undefined> = {
    podUid: pick('io.kubernetes.pod.uid', 'io.kubernetes.cri.sandbox-uid'),
    namespace: pick('io.kubernetes.pod.namespace', 'io.kubernetes.cri.sandbox-namespace'),
    podName: pick('io.kubernetes.pod.name', 'io.kubernetes.cri.sandbox-name'),
    containerName: pick('io.kubernetes.container.name', 'io.kubernetes.cri.container-name'),
  };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) msg[k] = v;
  return msg;
}

/** Sends the registration and resolves with the sensor's answer (rejects on timeout or a closed socket). */
export function send(socket: string, msg: Record<string, unknown>, timeoutMs: number): Promise<{ ok: boolean; error?: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the sensor did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify(msg) + '\n'));
    s.on('data', (d: string) => (buf += d));
    s.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf.trim()) as { ok: boolean; error?: string });
      } catch {
        reject(new Error('the sensor closed the connection without an answer'));
      }
    });
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the sensor at ${socket}: ${err.message}`));
    });
  });
}

/** The whole hook; returns the exit status. */
export async function runHook(argv: readonly string[], stdin: string, stderr: (line: string) => void): Promise<number> {
  let o: HookOptions;
  try {
    o = parseArgs(argv);
  } catch (err) {
    stderr(`vigil-oci-hook: ${(err as Error).message}`);
    return 2;
  }
  let state: OciState | undefined;
  try {
    state = parseState(stdin);
    if (state.status === 'stopped') {
      if (!/^[0-9a-f]{64}$/.test(state.id)) throw new Error(`container id ${JSON.stringify(state.id)} is not 64 hex digits`);
      const answer = await send(o.socket, { v: 1, op: 'unregister', containerId: state.id }, o.timeoutMs);
      if (!answer.ok) throw new Error(`the sensor refused: ${answer.error ?? 'no reason'}`);
      return 0;
    }
    const answer = await send(o.socket, registration(state, o.procRoot), o.timeoutMs);
    if (answer.ok) return 0;
    throw new Error(`the sensor refused: ${answer.error ?? 'no reason'}`);
  } catch (err) {
    if (state?.status === 'stopped') {
      stderr(`vigil-oci-hook: poststop: ${(err as Error).message}; the sensor drops the registration once the container's cgroup is gone`);
      return 0;
    }
    stderr(`vigil-oci-hook: ${(err as Error).message}; ${o.failClosed ? 'failing closed: the container is not created' : 'failing open: the container starts without early registration'}`);
    return o.failClosed ? 1 : 0;
  }
}
