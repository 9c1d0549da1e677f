-- Argo CD health check for the kinds of sagemaker.awscc.dev (SageMakerDomain, SageMakerUserProfile,
-- SageMakerSpace, ...):
-- they all report the same status (conditions Ready and Synced, observedGeneration, operation).
--
--   Healthy      Ready=True and the operator has observed the current generation.
--   Progressing  no status or conditions yet, observedGeneration behind metadata.generation, a Cloud
--                Control operation in flight (status.operation), a transient failure (creating,
--                updating, throttled, retrying, ...), a reference whose target is not Ready yet (a
--                profile's domainIdRef while its domain is being created), or a delete that clears
--                the way (deleting apps) or waits for objects of ours that depend on it: the operator
--                is still working on it.
--   Degraded     Ready=False and Synced=False with a terminal reason (AccessDenied, InvalidRequest,
--                ...): nothing will change until a human fixes the spec, the IAM role or AWS. Also a
--                blocked delete (DeleteBlocked: apps or spaces in the way under cleanupOnDelete Block, a
--                profile nobody here manages, AWS refusing): its message names what a person must do.
--
-- The message is the Ready condition's (which quotes AWS's own error text).
local hs = {status = "Progressing", message = "Waiting for the operator to reconcile it"}

-- Reasons the operator sets while it is still making progress; any other reason of a failed
-- reconcile is terminal. A retried AWS error keeps AWS's code in Synced and says Retrying in Ready.
local transient = {
  Creating = true, Updating = true, Deleting = true, Pending = true, Throttled = true, Retrying = true,
  ReferenceNotReady = true,
}

local function condition(conditions, type_)
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local status = obj.status
if status == nil or status.conditions == nil or #status.conditions == 0 then
  return hs
end

-- A reconcile that failed terminally may record the generation it failed on (status.failedGeneration)
-- without advancing observedGeneration; either means the operator has seen the current spec.
local generation = obj.metadata.generation
local function current(field)
  return generation == nil or (status[field] ~= nil and status[field] >= generation)
end
local observed = current("observedGeneration")
local failed = current("failedGeneration") and status.failedGeneration ~= nil
if not observed and not failed then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = condition(status.conditions, "Ready")
local synced = condition(status.conditions, "Synced")

if status.operation ~= nil then
  local what = status.operation.type or "An operation"
  hs.message = tostring(what) .. " in progress: " .. describe(ready, "waiting for AWS")
  return hs
end

if observed and ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Available")
  return hs
end

if ready ~= nil and ready.status == "False" and ready.reason == "DeleteBlocked" then
  hs.status = "Degraded"
  hs.message = describe(ready, "DeleteBlocked")
  return hs
end

-- Terminal: the last reconcile failed for good, and AWS does not hold the spec (Ready=False), or the
-- failure is on the current spec while AWS still holds an older one.
if synced ~= nil and synced.status == "False" and ((ready ~= nil and ready.status == "False") or failed) then
  local reason = synced.reason or (ready and ready.reason)
  local retried = ready ~= nil and ready.reason ~= nil and transient[ready.reason]
  if reason ~= nil and not transient[reason] and not retried then
    hs.status = "Degraded"
    hs.message = describe(ready ~= nil and ready.status == "False" and ready or synced, reason)
    return hs
  end
end

hs.message = describe(ready, describe(synced, hs.message))
return hs
