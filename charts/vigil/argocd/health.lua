-- Argo CD health check for vigil.dev TracingPolicy and TracingPolicyNamespaced (Argo CD does not read kstatus
-- conditions of custom resources). Install under resource.customizations.health.vigil.dev_TracingPolicy and
-- resource.customizations.health.vigil.dev_TracingPolicyNamespaced in argocd-cm (see charts/vigil/README.md).
local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata and obj.metadata.generation or nil
if generation ~= nil and obj.status.observedGeneration ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local cond = {}
for _, c in ipairs(obj.status.conditions) do
  cond[c.type] = c
end
local function msg(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end
if cond.Ready ~= nil and cond.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = msg(cond.Ready, "Enforced on every selected node")
  return hs
end
if cond.Degraded ~= nil and cond.Degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = msg(cond.Degraded, "Some nodes failed")
  return hs
end
if cond.Stalled ~= nil and cond.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = msg(cond.Stalled, "Stalled")
  return hs
end
hs.status = "Progressing"
hs.message = msg(cond.Reconciling, msg(cond.Ready, "Reconciling"))
return hs
