import { describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { startNatsServer } from './nats-server.js';

const sc = StringCodec();

async function reconnected(nc: NatsConnection): Promise<void> {
  for await (const s of nc.status()) if (s.type === 'reconnect') return;
}

describe('startNatsServer', () => {
  it('serves JetStream KV that survives a restart on the same URL, and cleans up', async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
    try {
      expect(server.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      const kv = await nc.jetstream().views.kv('harness-test');
      await kv.put('a.b', sc.encode('one'));
      const back = reconnected(nc);
      await server.restart();
      await back;
      // The bucket lives in the store directory.
      const e = await kv.get('a.b');
      expect(e && sc.decode(e.value)).toBe('one');
    } finally {
      await nc.close();
      await server.stop();
    }
    expect(existsSync(server.storeDir)).toBe(false);
    expect(server.pid).toBeUndefined();
    await server.stop(); // idempotent
  });
});
