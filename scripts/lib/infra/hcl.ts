// HCL (Terraform's configuration language) parsed to JSON by @cdktf/hcl2json (HashiCorp's own hcl
// parser compiled to wasm). Loaded by a name TypeScript does not resolve: its type declarations
// pull in the DOM library, which changes fetch()'s types for the whole program.
const HCL2JSON = '@cdktf/hcl2json' as string;

interface Hcl2Json {
  parse(filename: string, contents: string): Promise<Record<string, unknown>>;
}

/**
 * Parses one HCL file (a .tf, .tfvars or .tfbackend text) into hcl2json's JSON shape: blocks as
 * arrays, expressions other than literals as "${…}" strings.
 * @throws Error with the parser's diagnostic (file:line,col) when the text is not valid HCL.
 */
export async function parseHcl(filename: string, contents: string): Promise<Record<string, unknown>> {
  const mod = (await import(HCL2JSON)) as Hcl2Json;
  return mod.parse(filename, contents);
}
