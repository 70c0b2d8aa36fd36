// Public API of @vigil/testing: explicit exports only.

// Test Kubernetes API server (issue #6)
export { startTestApiServer, SERVER_VERSION } from './apiserver/server.js';
export type { TestApiServer, TestApiServerOptions, KubeconfigOptions, RequestRecord } from './apiserver/server.js';
export type { Faults, FaultRule, FaultMatch, FaultHandle } from './apiserver/faults.js';
export type { AuthOptions, TokenIdentity, PolicyRule } from './apiserver/rbac.js';
export { ApiServerError } from './apiserver/errors.js';
export type { Status, StatusReason, StatusCause } from './apiserver/errors.js';
export type { StructuralSchema } from './apiserver/schema-validate.js';
export { serve as serveTestApiServer } from './apiserver/cli.js';
export type { ServeResult } from './apiserver/cli.js';

// nats-server runner for JetStream tests (issue #10)
export { NatsServerError, startNatsServer } from './nats/nats-server.js';
export type { NatsServer, NatsServerOptions } from './nats/nats-server.js';
