// Small helpers for tests that talk to the test API server over plain HTTP, and a Widget CRD fixture that
// exercises printer columns, a status subresource, defaults and validation.
import type { Obj } from './store.js';

export interface HttpResult<T = Obj> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export async function http<T = Obj>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (healthz)
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** Reads newline-delimited watch events from a streaming response until `count` arrived or the stream ends. */
export class WatchReader {
  private buf = '';
  private readonly events: Obj[] = [];
  private ended = false;
  private waiter: (() => void) | undefined;
  readonly controller = new AbortController();
  status = 0;

  static async open(url: string, headers: Record<string, string> = {}): Promise<WatchReader> {
    const w = new WatchReader();
    const res = await fetch(url, { headers, signal: w.controller.signal });
    w.status = res.status;
    void w.pump(res);
    return w;
  }

  private async pump(res: Response): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        this.buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = this.buf.indexOf('\n')) >= 0) {
          const line = this.buf.slice(0, i);
          this.buf = this.buf.slice(i + 1);
          if (line.trim()) this.events.push(JSON.parse(line) as Obj);
        }
        this.waiter?.();
      }
    } catch {
      // aborted
    }
    this.ended = true;
    this.waiter?.();
  }

  /** Waits until at least `count` events (total) arrived; returns all so far. */
  async next(count: number, timeoutMs = 5000): Promise<Obj[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count && !this.ended) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} watch events, got ${this.events.length}: ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 50);
      });
    }
    return [...this.events];
  }

  /** Resolves when the server ends the stream. */
  async closed(timeoutMs = 5000): Promise<Obj[]> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('watch stream did not end');
      await new Promise((r) => setTimeout(r, 20));
    }
    return [...this.events];
  }

  get all(): Obj[] {
    return [...this.events];
  }

  get isEnded(): boolean {
    return this.ended;
  }

  close(): void {
    this.controller.abort();
  }
}

export const WIDGET_CRD: Obj = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList', shortNames: ['wd'], categories: ['all'] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          { name: 'Size', type: 'integer', jsonPath: '.spec.size' },
          { name: 'Mode', type: 'string', jsonPath: '.spec.mode', priority: 1 },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1, maximum: 10 },
                  mode: { type: 'string', enum: ['fast', 'safe'], default: 'safe' },
                  name: { type: 'string', pattern: '^[a-z]+$', maxLength: 8 },
                  port: { 'x-kubernetes-int-or-string': true },
                  note: { type: 'string', nullable: true },
                  tags: { type: 'array', items: { type: 'string' }, maxItems: 3, 'x-kubernetes-list-type': 'set' },
                  extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
                  limits: { type: 'object', additionalProperties: { type: 'integer' } },
                  ports: {
                    type: 'array',
                    'x-kubernetes-list-type': 'map',
                    'x-kubernetes-list-map-keys': ['name'],
                    items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, number: { type: 'integer' } } },
                  },
                },
              },
              status: {
                type: 'object',
                properties: {
                  observedGeneration: { type: 'integer' },
                  conditions: {
                    type: 'array',
                    'x-kubernetes-list-type': 'map',
                    'x-kubernetes-list-map-keys': ['type'],
                    items: {
                      type: 'object',
                      required: ['type', 'status'],
                      properties: {
                        type: { type: 'string' },
                        status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
                        reason: { type: 'string' },
                        message: { type: 'string' },
                        lastTransitionTime: { type: 'string', format: 'date-time' },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

export function widget(name: string, spec: Obj = { size: 1 }, extra: Obj = {}): Obj {
  return { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name, ...((extra.metadata as Obj | undefined) ?? {}) }, spec, ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'metadata')) };
}

export const WIDGETS = '/apis/example.com/v1/namespaces/default/widgets';
