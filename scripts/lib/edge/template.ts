// Filling the edge's config templates: {{NAME}} placeholders; a multi-line value keeps the
// placeholder's indentation.

export function fillTemplate(template: string, vars: Record<string, string>, file: string): string {
  const missing = new Set<string>();
  const out = template
    .split('\n')
    .map((line) => {
      const indent = /^[ \t]*/.exec(line)![0];
      return line.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, name: string) => {
        const value = vars[name];
        if (value === undefined) {
          missing.add(name);
          return '';
        }
        return value.split('\n').join(`\n${indent}`);
      });
    })
    .join('\n');
  if (missing.size > 0) throw new Error(`${file}: no value for placeholder(s) ${[...missing].join(', ')}`);
  return out;
}
