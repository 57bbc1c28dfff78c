// The tests' IAM policy evaluator: @cloud-copilot/iam-simulate, which follows IAM's evaluation logic
// (explicit Deny, NotAction/NotResource, wildcards, every condition operator, permissions boundaries,
// resource and trust policies) and checks each request against IAM's Service Authorization Reference (the
// action exists, the resource ARN is of a type the action is authorized against, the context keys apply).
//
// Reads a JSON array of iam-simulate `Simulation`s on stdin and writes, for each, one object:
// {"decision": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied", "resourceType": ...,
//  "ignoredContextKeys": [...]}, or {"error": "..."} when the request itself is not one IAM would see.
// A simulation marked "unvalidated": true skips the Service Authorization Reference check (only for
// resources the reference data cannot place, such as an HTTP API's authorizers and routes).
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const simulations = JSON.parse(Buffer.concat(chunks).toString('utf8'))

const answers = []
for (const { unvalidated, ...request } of simulations) {
  const simulation = { serviceControlPolicies: [], resourceControlPolicies: [], ...request }
  if (unvalidated) {
    answers.push({ decision: runUnsafeSimulation(simulation, {}), resourceType: null, ignoredContextKeys: [] })
    continue
  }
  const result = await runSimulation(simulation, {})
  if (result.resultType === 'error') {
    answers.push({ error: JSON.stringify(result.errors) })
  } else if (result.resultType === 'single') {
    answers.push({
      decision: result.overallResult,
      resourceType: result.result.resourceType ?? null,
      ignoredContextKeys: result.result.ignoredContextKeys ?? []
    })
  } else {
    answers.push({ error: `a wildcard resource, not one request: ${simulation.request.resource.resource}` })
  }
}
process.stdout.write(JSON.stringify(answers))
