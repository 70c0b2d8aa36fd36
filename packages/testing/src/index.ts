// Public API of @vigil/testing: explicit exports only.
export {};
