// secrets/inventory.yaml against the places secrets are named: the .env.example files, compose,
// the Kubernetes/Helm secret references (secretKeyRef / secretRef keys under kustomize/ and helm/,
// and the CI kind Secret). No value anywhere in the inventory.
import { expect } from 'chai';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { dotenvNames, loadInventory, SECRET_LIKE } from '../../scripts/lib/secret-inventory.js';
import { fromRoot } from '../../scripts/lib/paths.js';

function filesUnder(dir: string, keep: (f: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) return e === 'node_modules' ? [] : filesUnder(p, keep);
    return keep(p) ? [p] : [];
  });
}

/** Keys a manifest or template reads from Secrets: secretKeyRef.key and keys listed under a Secret's data/stringData. */
function secretKeysReferenced(text: string): string[] {
  return [...text.matchAll(/secretKeyRef:\s*\{?[^}]*?\bkey:\s*["']?([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]);
}

describe('secrets inventory (secrets/inventory.yaml)', () => {
  const inventory = loadInventory();
  const names = new Set(inventory.map((s) => s.name));

  it('is valid: purpose, owner, environments, components and rotation for every secret; no values', () => {
    expect(inventory.length).to.be.greaterThan(5);
    const text = readFileSync(fromRoot('secrets', 'inventory.yaml'), 'utf8');
    expect(text).not.to.match(/^\s*value\s*:/m);
    for (const s of inventory) expect(s.rotation === 'none' || s.rotationDays > 0, s.name).to.equal(true);
  });

  it('every secret-like variable of every .env.example file is in the inventory, and every example variable of the inventory is documented', () => {
    const examples = filesUnder(
      fromRoot(),
      (f) => path.basename(f) === '.env.example' && !f.includes(`${path.sep}.git${path.sep}`),
    );
    expect(examples.map((f) => path.relative(fromRoot(), f))).to.include.members([
      'app/.env.example',
      'compose/.env.example',
    ]);
    const exampleNames = new Set(examples.flatMap((f) => dotenvNames(f)));
    const secretLike = [...exampleNames].filter((n) => SECRET_LIKE.test(n));
    expect(
      secretLike.filter((n) => !names.has(n)),
      'secret-like names missing from the inventory',
    ).to.deep.equal([]);
    const appSecrets = inventory.filter((s) => s.components.includes('api')).map((s) => s.name);
    expect(
      appSecrets.filter((n) => !exampleNames.has(n)),
      'API secrets not in any .env.example',
    ).to.deep.equal([]);
  });

  it('compose passes only inventoried secrets from its env file', () => {
    const compose = readFileSync(fromRoot('compose', 'compose.yaml'), 'utf8');
    const used = [...compose.matchAll(/\$\{([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]).filter((n) => SECRET_LIKE.test(n));
    expect(used.length).to.be.greaterThan(0);
    expect([...new Set(used)].filter((n) => !names.has(n))).to.deep.equal([]);
  });

  it('every Secret key the Kubernetes manifests, the Helm chart and the CI kind cluster reference is in the inventory', () => {
    const manifests = [
      ...filesUnder(fromRoot('kustomize'), (f) => /\.ya?ml$/.test(f)),
      ...filesUnder(fromRoot('helm'), (f) => /\.(ya?ml|tpl)$/.test(f)),
      ...filesUnder(fromRoot('.github', 'kind'), (f) => /\.ya?ml$/.test(f)),
    ];
    const keys = new Set(manifests.flatMap((f) => secretKeysReferenced(readFileSync(f, 'utf8'))));
    expect(keys.size, 'at least the CI kind manifests reference Secret keys').to.be.greaterThan(0);
    expect([...keys].filter((k) => !names.has(k))).to.deep.equal([]);
    // The Secret the CI kind cluster creates holds only inventoried names.
    const created = [
      ...readFileSync(fromRoot('.github', 'kind', 'secrets.sh'), 'utf8').matchAll(/echo "([A-Z][A-Z0-9_]*)=/g),
    ].map((m) => m[1]);
    expect(created.filter((k) => !names.has(k))).to.deep.equal([]);
  });

  it('the reference reader finds both YAML forms (a check that can fail)', () => {
    expect(secretKeysReferenced('valueFrom:\n  secretKeyRef: {name: s, key: NOT_IN_INVENTORY}\n')).to.deep.equal([
      'NOT_IN_INVENTORY',
    ]);
    expect(secretKeysReferenced('valueFrom:\n  secretKeyRef:\n    name: s\n    key: ALSO_MISSING\n')).to.deep.equal([
      'ALSO_MISSING',
    ]);
  });
});
