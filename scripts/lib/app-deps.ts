// The app workspace's dependencies as the image sees them: what app/src imports (TypeScript's own
// parser: runtime vs type-only), what the lockfile says app/package.json declares, and which
// lockfile entries `npm ci --omit=dev --workspace app` installs (Node's resolution walked over the
// lockfile's node_modules paths). Used by test/app/dependencies.test.ts and the image test.
import { builtinModules } from 'node:module';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { fromRoot } from './paths.js';

export interface AppImport {
  /** Package name ('@nestjs/common', 'zod'). */
  pkg: string;
  /** File relative to the repository root. */
  file: string;
  /** Erased by tsc: needs the package only at build time (a dev dependency is enough). */
  typeOnly: boolean;
}

interface LockPackage {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
}

export interface Lockfile {
  packages: Record<string, LockPackage>;
}

export const APP_WORKSPACE = 'app';

export function readLockfile(file = fromRoot('package-lock.json')): Lockfile {
  return JSON.parse(readFileSync(file, 'utf8')) as Lockfile;
}

const builtins = new Set(builtinModules);

/** 'node:fs' / 'fs' -> undefined (built in); '@a/b/c' -> '@a/b'; 'x/y' -> 'x'; relative -> undefined. */
export function packageName(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return builtins.has(name) ? undefined : name;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(full);
    return /\.[cm]?ts$/.test(e.name) && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

/** Every package import of the app's sources (static, re-exports, dynamic import(), require()). */
export function appImports(srcDir = fromRoot(APP_WORKSPACE, 'src')): AppImport[] {
  const found: AppImport[] = [];
  for (const file of sourceFiles(srcDir)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const rel = path.relative(fromRoot(), file);
    const add = (spec: string, typeOnly: boolean) => {
      const pkg = packageName(spec);
      if (pkg) found.push({ pkg, file: rel, typeOnly });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
        const clause = node.importClause;
        // `import type …`, or only `type` specifiers and no default/namespace import: erased by tsc.
        const typeOnly =
          !!clause &&
          (clause.isTypeOnly ||
            (!clause.name &&
              !!clause.namedBindings &&
              ts.isNamedImports(clause.namedBindings) &&
              clause.namedBindings.elements.length > 0 &&
              clause.namedBindings.elements.every((e) => e.isTypeOnly)));
        add(node.moduleSpecifier.text, typeOnly);
      } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, node.isTypeOnly);
      } else if (ts.isImportTypeNode(node)) {
        const arg = node.argument;
        if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) add(arg.literal.text, true);
      } else if (
        ts.isCallExpression(node) &&
        (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
          (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
        node.arguments.length > 0 &&
        ts.isStringLiteralLike(node.arguments[0])
      ) {
        add(node.arguments[0].text, false);
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

/** app/package.json's dependencies as the lockfile records them (what `npm ci` installs). */
export function lockedAppManifest(lock: Lockfile = readLockfile()): {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
} {
  const entry = lock.packages[APP_WORKSPACE];
  if (!entry) throw new Error(`package-lock.json has no "${APP_WORKSPACE}" workspace entry: run npm install`);
  return { dependencies: entry.dependencies ?? {}, devDependencies: entry.devDependencies ?? {} };
}

/** Where Node finds `name` from the lockfile location `from` ('app', 'node_modules/a/node_modules/b'). */
export function resolveInLock(lock: Lockfile, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    const entry = lock.packages[candidate];
    if (entry) return entry.link && entry.resolved ? entry.resolved : candidate;
    if (!dir) return undefined;
    // Up one package: strip '/node_modules/<name>' (scoped names have two segments), or leave a workspace.
    const m = /^(.*?)\/?node_modules\/(?:@[^/]+\/)?[^/]+$/.exec(dir);
    dir = m ? m[1] : '';
  }
}

/**
 * Lockfile paths `npm ci --omit=dev --workspace app` installs for the app: its dependencies and,
 * recursively, theirs (optional and non-optional peer dependencies included when present).
 * @returns paths like 'node_modules/pg', 'node_modules/a/node_modules/b' (workspace-nested ones as 'app/node_modules/…').
 */
export function productionPackagePaths(lock: Lockfile = readLockfile()): Set<string> {
  const seen = new Set<string>();
  const queue: [string, string][] = Object.keys(lockedAppManifest(lock).dependencies).map((n) => [APP_WORKSPACE, n]);
  while (queue.length > 0) {
    const [from, name] = queue.shift()!;
    const at = resolveInLock(lock, from, name);
    if (!at || seen.has(at)) continue;
    seen.add(at);
    const p = lock.packages[at];
    const peers = Object.keys(p.peerDependencies ?? {}).filter((n) => !p.peerDependenciesMeta?.[n]?.optional);
    for (const n of [...Object.keys(p.dependencies ?? {}), ...Object.keys(p.optionalDependencies ?? {}), ...peers]) {
      queue.push([at, n]);
    }
  }
  return seen;
}

/**
 * What is wrong with the app workspace's declared dependencies, one line each (empty = all good):
 * a runtime import not in `dependencies`, a type-only import declared nowhere, a declared
 * dependency nothing imports (unless a declared dependency needs it as a peer), one missing from
 * or nested outside the lockfile's root node_modules (the image copies only that), app/package.json
 * out of step with the lockfile.
 */
export function dependencyProblems(
  imports: AppImport[],
  manifest: { dependencies?: Record<string, string>; devDependencies?: Record<string, string> },
  lock: Lockfile = readLockfile(),
): string[] {
  const problems: string[] = [];
  const deps = manifest.dependencies ?? {};
  const devDeps = manifest.devDependencies ?? {};
  const locked = lockedAppManifest(lock);
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
  if (!same(deps, locked.dependencies) || !same(devDeps, locked.devDependencies)) {
    problems.push('app/package.json and package-lock.json disagree: run npm install (and commit the lockfile)');
  }
  const byPkg = new Map<string, AppImport[]>();
  for (const i of imports) byPkg.set(i.pkg, [...(byPkg.get(i.pkg) ?? []), i]);
  for (const [pkg, uses] of byPkg) {
    const runtime = uses.find((u) => !u.typeOnly);
    if (runtime && !(pkg in deps)) {
      const where = pkg in devDeps ? 'declares it only as a dev dependency' : 'does not declare it';
      problems.push(
        `${runtime.file} imports ${pkg} at run time but app/package.json ${where} (the image installs only its dependencies): npm install ${pkg}@VERSION -w app`,
      );
    } else if (!runtime && !(pkg in deps) && !(pkg in devDeps)) {
      problems.push(
        `${uses[0].file} imports types from ${pkg}, which app/package.json does not declare: npm install -D ${pkg}@VERSION -w app`,
      );
    }
  }
  const peersOfDeclared = new Set<string>();
  for (const name of Object.keys(deps)) {
    const at = resolveInLock(lock, APP_WORKSPACE, name);
    const entry = at ? lock.packages[at] : undefined;
    if (!at || !entry) {
      problems.push(`dependency ${name} is not in package-lock.json: run npm install ${name} -w app`);
      continue;
    }
    if (!at.startsWith('node_modules/')) {
      problems.push(
        `dependency ${name} is installed at ${at}, not in the root node_modules the image copies (its version conflicts with the root package.json's): align the two versions`,
      );
    }
    for (const peer of Object.keys(entry.peerDependencies ?? {})) {
      if (!entry.peerDependenciesMeta?.[peer]?.optional) peersOfDeclared.add(peer);
    }
  }
  for (const name of Object.keys(deps)) {
    if (!byPkg.has(name) && !peersOfDeclared.has(name)) {
      problems.push(
        `dependency ${name} is declared by app/package.json but nothing in app/src imports it: npm uninstall ${name} -w app`,
      );
    }
  }
  for (const at of productionPackagePaths(lock)) {
    if (lock.packages[at]?.dev)
      problems.push(`${at} is marked dev in package-lock.json but the app needs it at run time: run npm install`);
  }
  return problems;
}
