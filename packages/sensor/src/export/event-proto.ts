// The protobuf schema of Vigil's events on NATS (docs/events.md, "NATS"). Our own schema, not Tetragon's: field
// names follow Tetragon's JSON where they mean the same thing. Add fields, never renumber.
import protobuf from 'protobufjs';

export const EVENTS_PROTO = `syntax = "proto3";
package vigil.events.v1;

message Process {
  string exec_id = 1;
  uint32 pid = 2;
  uint32 tid = 3;
  uint32 uid = 4;
  uint32 euid = 5;
  uint32 gid = 6;
  uint32 egid = 7;
  uint32 auid = 8;
  string cwd = 9;
  string binary = 10;
  repeated string arguments = 11;
  string flags = 12;
  uint64 start_time_ns = 13;
  string parent_exec_id = 14;
  uint64 cgroup_id = 15;
  Pod pod = 16;
}

// Tetragon's pod object (docs/identity.md): set for processes in Kubernetes pods.
message Pod {
  string namespace = 1;
  string name = 2;
  Container container = 3;
  map<string, string> pod_labels = 4;
  string workload = 5;
  string workload_kind = 6;
}

message Container {
  string id = 1;
  string name = 2;
  Image image = 3;
}

message Image {
  string id = 1;
  string name = 2;
}

message ProcessExec {
  Process process = 1;
  Process parent = 2;
  repeated Process ancestors = 3;
}

message ProcessExit {
  Process process = 1;
  Process parent = 2;
  uint32 status = 3;
  string signal = 4;
}

message Enforcement {
  Process process = 1;
  Process parent = 2;
  string event_kind = 3;
  string function_name = 4;
  string policy_name = 5;
  string action = 6;
  string mechanism = 7;
  string detail = 8;
}

message Hook {
  Process process = 1;
  Process parent = 2;
  string event_kind = 3;
  string function_name = 4;
  string policy_name = 5;
  string action = 6;
  string mechanism = 7;
  string args_json = 8;
  string return_json = 9;
  string monitor_action = 10;
  uint64 rate_limit_suppressed = 11;
}

message Event {
  string node_name = 1;
  uint64 time_ns = 2;
  oneof event {
    ProcessExec process_exec = 10;
    ProcessExit process_exit = 11;
    Enforcement enforcement = 12;
    Hook hook = 13;
  }
}
`;

/** The decoded schema's Event type (protobufjs reflection; encode/decode/toObject). */
export function eventType(): protobuf.Type {
  return protobuf.parse(EVENTS_PROTO, { keepCase: true }).root.lookupType('vigil.events.v1.Event');
}
