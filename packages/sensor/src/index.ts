// Public API of @vigil/sensor: explicit exports only.
export {};
