/**
 * deploy/kubernetes/, parsed (multi-document YAML, no cluster here) and held
 * against the code and the Vault setup: variables and their references,
 * probes, selectors, the service account the Vault role binds, the projected
 * token, and the policy for the prefix the manifests set. Each check is also
 * shown to catch a typo in a mutated copy.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubernetesProblems, readKubernetesFiles, shellConstants, unlistedKubernetesFiles, type KubernetesFiles } from '../support/deployment-checks.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function problemsAfter(change: (documents: Json[], files: KubernetesFiles) => KubernetesFiles | void): string[] {
  const files = readKubernetesFiles();
  const copy = { ...files, applied: files.applied.map((entry) => ({ ...entry, document: structuredClone(entry.document) })) };
  const changed = change(copy.applied.map((entry) => entry.document), copy) ?? copy;
  return kubernetesProblems(changed);
}

function find(documents: Json[], kind: string): Json {
  return documents.find((document) => document['kind'] === kind)!;
}

function container(documents: Json[]): Json {
  return find(documents, 'Deployment')['spec']['template']['spec']['containers'][0];
}

function expectProblem(problems: string[], ...fragments: string[]): void {
  assert.ok(problems.some((problem) => fragments.every((fragment) => problem.includes(fragment))), `${fragments.join(' + ')}:\n${problems.join('\n')}`);
}

describe('deploy/kubernetes', () => {
  it('has no problem, and kustomization.yaml lists every manifest', () => {
    const files = readKubernetesFiles();
    assert.deepEqual(kubernetesProblems(files), []);
    assert.deepEqual(unlistedKubernetesFiles(files), []);
    const kinds = files.applied.map((entry) => entry.document['kind']).sort();
    assert.deepEqual(kinds, ['ConfigMap', 'Deployment', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    assert.equal(find(files.applied.map((entry) => entry.document), 'Deployment')['spec']['replicas'], 3);
  });

  it('reads the Vault role, namespace and service account from kubernetes-setup.sh', () => {
    const constants = shellConstants(readKubernetesFiles().vaultSetup);
    assert.deepEqual({ role: constants['ROLE'], account: constants['SERVICE_ACCOUNT'], namespace: constants['NAMESPACE'], audience: constants['AUDIENCE'] }, { role: 'ccm', account: 'ccm', namespace: 'ccm', audience: 'vault' });
  });

  it('reports an env name that is not in CONFIGURATION_REFERENCE', () => {
    const problems = problemsAfter((documents) => {
      container(documents)['env'].push({ name: 'CCM_VAULT_KUBERNETES_ROLES', value: 'ccm' });
    });
    expectProblem(problems, 'CCM_VAULT_KUBERNETES_ROLES', 'CONFIGURATION_REFERENCE');
  });

  it('reports references to a ConfigMap, a Secret or a key that nobody defines', () => {
    const problems = problemsAfter((documents) => {
      const env: Json[] = container(documents)['env'];
      env.find((variable) => variable['name'] === 'CCM_PUBLIC_URL')!['valueFrom']['configMapKeyRef']['name'] = 'ccm-settings';
      env.find((variable) => variable['name'] === 'DATABASE_URL')!['valueFrom']['secretKeyRef']['key'] = 'DATABASE_URI';
      env.find((variable) => variable['name'] === 'CCM_REDIS_URL')!['valueFrom']['secretKeyRef']['name'] = 'redis';
    });
    expectProblem(problems, 'ConfigMap ccm-settings');
    expectProblem(problems, 'DATABASE_URI');
    expectProblem(problems, 'Secret redis');
  });

  it('reports an environment that does not parse: Kubernetes auth without its role', () => {
    const problems = problemsAfter((documents) => {
      const env: Json[] = container(documents)['env'];
      env.splice(env.findIndex((variable) => variable['name'] === 'CCM_VAULT_KUBERNETES_ROLE'), 1);
    });
    expectProblem(problems, 'not a valid configuration', 'CCM_VAULT_KUBERNETES_ROLE');
  });

  it('reports probes on the wrong path or port', () => {
    const problems = problemsAfter((documents) => {
      container(documents)['livenessProbe']['httpGet']['path'] = '/health';
      container(documents)['readinessProbe']['httpGet']['port'] = 'metrics';
    });
    expectProblem(problems, 'livenessProbe', '/health/live');
    expectProblem(problems, 'readinessProbe port metrics');
  });

  it('reports a PodDisruptionBudget, Service or NetworkPolicy that selects other pods', () => {
    const problems = problemsAfter((documents) => {
      find(documents, 'PodDisruptionBudget')['spec']['selector']['matchLabels']['app.kubernetes.io/name'] = 'cmm';
      find(documents, 'Service')['spec']['selector']['app.kubernetes.io/component'] = 'api';
      find(documents, 'NetworkPolicy')['spec']['podSelector']['matchLabels'] = {};
    });
    expectProblem(problems, 'PodDisruptionBudget', 'does not select');
    expectProblem(problems, 'Service ccm does not select');
    expectProblem(problems, 'NetworkPolicy ccm does not select');
  });

  it('reports a service account that is not defined or not the one the Vault role binds', () => {
    const problems = problemsAfter((documents) => {
      find(documents, 'Deployment')['spec']['template']['spec']['serviceAccountName'] = 'default';
    });
    expectProblem(problems, 'service account default is not defined');
    expectProblem(problems, 'Vault role binds service account ccm');
  });

  it('reports a projected token whose audience the Vault role does not accept', () => {
    const problems = problemsAfter((documents) => {
      find(documents, 'Deployment')['spec']['template']['spec']['volumes'][0]['projected']['sources'][0]['serviceAccountToken']['audience'] = 'https://kubernetes.default.svc';
    });
    expectProblem(problems, 'audience');
  });

  it('reports a key prefix the Vault policy does not grant, and a policy that grants export', () => {
    const prefix = problemsAfter((documents) => {
      container(documents)['env'].find((variable: Json) => variable['name'] === 'CCM_VAULT_KEY_PREFIX')['value'] = 'iot-';
    });
    expectProblem(prefix, 'transit/keys/iot-*', 'ccm needs');
    const exported = problemsAfter((_documents, files) => ({ ...files, vaultPolicy: `${files.vaultPolicy}\npath "transit/export/signing-key/ccm-*" { capabilities = ["read"] }\n` }));
    expectProblem(exported, 'transit/export/signing-key/ccm-*');
  });

  it('reports a writable root filesystem, a missing admin key and missing resource limits', () => {
    const problems = problemsAfter((documents) => {
      const ccm = container(documents);
      ccm['securityContext']['readOnlyRootFilesystem'] = false;
      ccm['env'] = ccm['env'].filter((variable: Json) => variable['name'] !== 'CCM_ADMIN_API_KEY');
      delete ccm['resources']['limits']['memory'];
    });
    expectProblem(problems, 'readOnlyRootFilesystem');
    expectProblem(problems, 'CCM_ADMIN_API_KEY');
    expectProblem(problems, 'limits.memory');
  });
});
