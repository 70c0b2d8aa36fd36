#!/usr/bin/env node
// Stable bin entry of the OCI runtime hook (packages/sensor/src/oci-hook); the hook is compiled TypeScript.
import "../dist/oci-hook/main.js";
