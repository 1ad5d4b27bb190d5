// Secret scanning with secretlint and its recommended preset (+ the repository's patterns and
// placeholder allow-list in .secretlintrc.json, skipped paths in .secretlintignore): the one
// scanner the pre-commit hook, `make secrets-check` and CI use. Findings carry file, line and rule
// only; secretlint's JSON also holds the file contents, which never leave this module.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Exec } from './exec.js';
import { fromRoot, repoRoot } from './paths.js';

export interface SecretFinding {
  /** Path relative to the scanned root (history: the path the blob had). */
  file: string;
  line: number;
  rule: string;
  /** secretlint's message; the credential itself is masked by secretlint (maskSecrets). */
  message: string;
  /** History scan: the blob and the first commit that holds it. */
  blob?: string;
  commit?: string;
}

interface SecretlintResult {
  filePath: string;
  messages: { ruleId: string; message: string; loc?: { start?: { line?: number } } }[];
}

const SECRETLINT = fromRoot('node_modules', '.bin', 'secretlint');
/** Files per secretlint invocation (keeps the command line short). */
const BATCH = 200;

/**
 * Runs secretlint over files (paths relative to cwd) with the repository's config and ignore file.
 * Throws when secretlint itself fails (exit 2: bad config), not when it finds something (exit 1).
 */
export async function scanFiles(exec: Exec, files: string[], cwd = repoRoot): Promise<SecretFinding[]> {
  const findings: SecretFinding[] = [];
  for (let i = 0; i < files.length; i += BATCH) {
    const args = [
      '--format',
      'json',
      '--maskSecrets',
      '--secretlintrc',
      fromRoot('.secretlintrc.json'),
      '--secretlintignore',
      fromRoot('.secretlintignore'),
      ...files.slice(i, i + BATCH),
    ];
    const r = await exec.run(SECRETLINT, args, { cwd, readOnly: true, nothrow: true });
    if (r.exitCode > 1 || (r.exitCode === 1 && !r.stdout.trim().startsWith('['))) {
      throw new Error(`secretlint failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    if (!r.stdout.trim()) continue;
    for (const f of JSON.parse(r.stdout) as SecretlintResult[]) {
      for (const m of f.messages) {
        findings.push({
          file: path.relative(cwd, path.resolve(cwd, f.filePath)),
          line: m.loc?.start?.line ?? 0,
          rule: m.ruleId.replace('@secretlint/secretlint-rule-', ''),
          message: m.message,
        });
      }
    }
  }
  return findings;
}

/** Files of the working tree: tracked plus untracked-but-not-ignored (what a commit could take). */
export async function workingTreeFiles(exec: Exec, cwd = repoRoot): Promise<string[]> {
  const out = await exec.read('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd });
  return [...new Set(out.split('\0').filter(Boolean))];
}

export async function scanWorkingTree(
  exec: Exec,
  cwd = repoRoot,
): Promise<{ files: number; findings: SecretFinding[] }> {
  const files = await workingTreeFiles(exec, cwd);
  return { files: files.length, findings: await scanFiles(exec, files, cwd) };
}

/** Staged files only (the pre-commit hook). */
export async function stagedFiles(exec: Exec, cwd = repoRoot): Promise<string[]> {
  const out = await exec.read('git', ['diff', '--cached', '--name-only', '--diff-filter=ACMR', '-z'], { cwd });
  return out.split('\0').filter(Boolean);
}

const MAX_BLOB_BYTES = 1024 * 1024;

/**
 * Every blob any commit ever held (all refs), each scanned once under the path it had: written to
 * a private temporary tree (mode 700, removed afterwards) and scanned with the same config.
 */
export async function scanHistory(exec: Exec, cwd = repoRoot): Promise<{ blobs: number; findings: SecretFinding[] }> {
  const objects = await exec.read('git', ['rev-list', '--objects', '--all'], { cwd });
  const byBlob = new Map<string, string>();
  for (const line of objects.split('\n')) {
    const [sha, ...rest] = line.split(' ');
    const p = rest.join(' ');
    if (sha && p && !byBlob.has(sha)) byBlob.set(sha, p);
  }
  if (byBlob.size === 0) return { blobs: 0, findings: [] };
  const types = await exec.read('git', ['cat-file', '--batch-check=%(objectname) %(objecttype) %(objectsize)'], {
    cwd,
    input: [...byBlob.keys()].join('\n') + '\n',
  });
  const blobs = types
    .split('\n')
    .map((l) => l.split(' '))
    .filter(([, type, size]) => type === 'blob' && Number(size) <= MAX_BLOB_BYTES)
    .map(([sha]) => sha);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'mytv-history-scan-'));
  try {
    const files: string[] = [];
    // One `git cat-file --batch` for every blob: "<sha> blob <size>\n<content>\n" each.
    const batch = execFileSync('git', ['cat-file', '--batch'], {
      cwd,
      input: blobs.join('\n') + '\n',
      maxBuffer: 1024 * 1024 * 1024,
    });
    let at = 0;
    while (at < batch.length) {
      const eol = batch.indexOf(0x0a, at);
      const [sha, , size] = batch.subarray(at, eol).toString('utf8').split(' ');
      const content = batch.subarray(eol + 1, eol + 1 + Number(size));
      at = eol + 1 + Number(size) + 1;
      if (content.includes(0)) continue; // binary
      const rel = path.join(sha, byBlob.get(sha)!);
      mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true, mode: 0o700 });
      writeFileSync(path.join(tmp, rel), content, { mode: 0o600 });
      files.push(rel);
    }
    const findings = await scanFiles(exec, files, tmp);
    for (const f of findings) {
      const sha = f.file.split(path.sep)[0];
      f.blob = sha;
      f.file = f.file.slice(sha.length + 1);
      // The oldest commit that touches the blob is the one that added it.
      const touching = await exec.read('git', ['log', '--all', '--format=%h', `--find-object=${sha}`], { cwd });
      f.commit = touching.split('\n').filter(Boolean).pop();
    }
    return { blobs: files.length, findings };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
