// Public API of @vigil/policy-schema: explicit exports only.
export {};
