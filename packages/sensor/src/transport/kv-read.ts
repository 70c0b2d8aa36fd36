// Reading a KV bucket's current values: a LastValue watch stopped once it has delivered the initial state.
import type { KvEntry, QueuedIterator, RoKV } from 'nats';

/** Current entries of `kv` matching `filter` (a KV key pattern), DEL/PURGE markers included unless ignoreDeletes. */
export async function readKv(kv: RoKV, filter = '>', ignoreDeletes = false): Promise<KvEntry[]> {
  let initialized = false;
  const holder: { w?: QueuedIterator<KvEntry> } = {};
  const w = await kv.watch({
    key: filter,
    ignoreDeletes,
    initializedFn: () => {
      initialized = true;
      holder.w?.stop();
    },
  });
  holder.w = w;
  if (initialized) w.stop();
  const out: KvEntry[] = [];
  for await (const e of w) out.push(e);
  return out;
}
