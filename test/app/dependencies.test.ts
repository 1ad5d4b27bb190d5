// The app workspace declares every package it imports: the image installs only app/package.json's
// dependencies (npm ci --omit=dev --workspace app), so a package declared only by the root
// package.json works in tests and crashes in the container. Proven from the imports and the lockfile.
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  appImports,
  dependencyProblems,
  lockedAppManifest,
  packageName,
  productionPackagePaths,
  readLockfile,
  type AppImport,
} from '../../scripts/lib/app-deps.js';
import { fromRoot } from '../../scripts/lib/paths.js';

const manifest = JSON.parse(readFileSync(fromRoot('app', 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

describe('app: workspace dependencies (imports ⊆ app/package.json, from the lockfile)', function () {
  const lock = readLockfile();
  const imports = appImports();

  it('finds the app imports, runtime and type-only apart', function () {
    const runtime = new Set(imports.filter((i) => !i.typeOnly).map((i) => i.pkg));
    const typeOnly = new Set(imports.filter((i) => i.typeOnly).map((i) => i.pkg));
    expect([...runtime]).to.include.members(['@nestjs/common', 'zod', 'pg', 'ioredis']);
    expect([...typeOnly]).to.include('fastify');
    expect(runtime.has('fastify')).to.equal(false);
    expect(imports.map((i) => i.pkg)).to.not.include.members(['node:fs', 'fs', 'crypto']);
  });

  it('has no dependency problem: every import declared, nothing unused, lockfile in step', function () {
    expect(dependencyProblems(imports, manifest, lock)).to.deep.equal([]);
  });

  it('fails for a runtime import declared only by the root package.json (zod before this fix)', function () {
    // dotenv is a root dependency (the scripts use it) that the app does not declare.
    expect(manifest.dependencies).to.not.have.property('dotenv');
    const withDotenv: AppImport[] = [...imports, { pkg: 'dotenv', file: 'app/src/config/config.ts', typeOnly: false }];
    const problems = dependencyProblems(withDotenv, manifest, lock);
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(
      /app\/src\/config\/config\.ts imports dotenv at run time .* npm install dotenv@VERSION -w app/,
    );

    const withoutZod = { ...manifest, dependencies: { ...manifest.dependencies } };
    delete (withoutZod.dependencies as Record<string, string>).zod;
    expect(dependencyProblems(imports, withoutZod, lock).join('\n')).to.match(/imports zod at run time/);
  });

  it('fails for a runtime import declared only as a dev dependency, and for an undeclared type-only import', function () {
    const runtimeFastify: AppImport[] = [...imports, { pkg: 'fastify', file: 'app/src/x.ts', typeOnly: false }];
    expect(dependencyProblems(runtimeFastify, manifest, lock).join('\n')).to.match(
      /imports fastify at run time but app\/package.json declares it only as a dev dependency/,
    );
    const noTypes = { ...manifest, devDependencies: { ...manifest.devDependencies } };
    delete (noTypes.devDependencies as Record<string, string>).fastify;
    expect(dependencyProblems(imports, noTypes, lock).join('\n')).to.match(/imports types from fastify/);
  });

  it('fails for a declared dependency nothing imports (peers of declared ones excepted)', function () {
    const unused = imports.filter((i) => i.pkg !== 'winston');
    expect(dependencyProblems(unused, manifest, lock).join('\n')).to.match(
      /dependency winston .* nothing in app\/src imports it/,
    );
    // rxjs and reflect-metadata are peers of @nestjs/common: declared even if nothing imported them.
    const noPeers = imports.filter((i) => i.pkg !== 'rxjs' && i.pkg !== 'reflect-metadata');
    expect(dependencyProblems(noPeers, manifest, lock)).to.deep.equal([]);
  });

  it('fails when app/package.json and the lockfile disagree', function () {
    const drifted = { ...manifest, dependencies: { ...manifest.dependencies, zod: '^3.0.0' } };
    expect(dependencyProblems(imports, drifted, lock).join('\n')).to.match(/disagree: run npm install/);
  });

  it('resolves the production closure from the lockfile: no dev-only package, no TypeScript', function () {
    const closure = productionPackagePaths(lock);
    expect(closure.has('node_modules/zod')).to.equal(true);
    expect(closure.has('node_modules/@nestjs/core')).to.equal(true);
    expect(closure.has('node_modules/typescript')).to.equal(false);
    expect(closure.has('node_modules/mocha')).to.equal(false);
    for (const name of Object.keys(lockedAppManifest(lock).dependencies)) {
      expect(closure.has(`node_modules/${name}`), name).to.equal(true);
    }
  });

  it('reads package names from specifiers', function () {
    expect(packageName('@aws-sdk/client-s3/dist-cjs/index.js')).to.equal('@aws-sdk/client-s3');
    expect(packageName('rxjs/operators')).to.equal('rxjs');
    expect(packageName('node:crypto')).to.equal(undefined);
    expect(packageName('path')).to.equal(undefined);
    expect(packageName('./local.js')).to.equal(undefined);
  });
});
