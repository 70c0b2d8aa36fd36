// Public API of @vigil/operator: explicit exports only.
export {};
