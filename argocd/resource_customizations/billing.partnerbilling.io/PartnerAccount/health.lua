-- Health of a billing.partnerbilling.io/PartnerAccount, from the kstatus conditions
-- the controller writes (Ready always; Reconciling and Stalled only while True).
-- Uses only the base library, which Argo CD always opens.
local hs = {}

local function findCondition(conditions, condType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == condType then
      return c
    end
  end
  return nil
end

-- Ready=False for these reasons does not mend itself: a person has to act. The
-- reasons and their health are those of the operator's reason table
-- (api/v1alpha1/reasons.go); a test holds this list to it.
local needsAction = {
  Unauthorized = true,
  RemoteDeleted = true,
  AccountSuspended = true,
  Deprovisioned = true,
  APIEndpointMisconfigured = true,
  EndpointUnproven = true,
  EndpointChanged = true,
  AccountMissing = true,
  SecretConflict = true,
  TokenSecretFailed = true,
  EndsAtNotApplied = true,
  ObservedAccountMissing = true,
  ConnectionNotFound = true,
  ConnectionNotAllowed = true,
  ConnectionNotReady = true,
}

local metadata = obj.metadata or {}
local spec = obj.spec or {}
local status = obj.status
local conditions = nil
if status ~= nil then
  conditions = status.conditions
end
local ready = findCondition(conditions, "Ready")

if metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "The PartnerAccount is being deleted"
  -- A Ready condition written for the deletion's generation says why it takes time.
  if ready ~= nil and ready.status ~= "True" and ready.message ~= nil and ready.message ~= ""
      and ready.observedGeneration ~= nil and ready.observedGeneration == metadata.generation then
    hs.message = ready.message
  end
  return hs
end

-- The CRD defaults observedGeneration to -1 until the controller writes a status.
if status == nil or status.observedGeneration == nil or status.observedGeneration < 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe the PartnerAccount"
  return hs
end

if metadata.generation ~= nil and status.observedGeneration ~= metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the controller to observe generation " .. tostring(metadata.generation)
  return hs
end

local stalled = findCondition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or ""
  return hs
end

if spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: the controller makes no calls to the Partnership API"
  if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
    hs.message = ready.message
  end
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end

if ready ~= nil and ready.status == "False" and needsAction[ready.reason] then
  hs.status = "Degraded"
  hs.message = ready.message or ""
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the PartnerAccount to become Ready"
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
  hs.message = ready.message
end
return hs
