// A small evaluator for the subset of Cloudflare's Rules language that terraform/rules.tf uses, so
// tests can check what a rule matches instead of what its text looks like. Semantics from
// developers.cloudflare.com/ruleset-engine/rules-language: `and`/`or`/`not`, `eq`/`ne`/`in {…}`/
// `contains`, functions lower(), url_decode(), starts_with(), ends_with(), any(), and the `[*]`
// array notation (a function applied to an array maps over it; a comparison over an array gives
// an array of booleans for any()). Unsupported syntax throws, so a rule using it fails the test.

export interface CfRequest {
  host: string;
  method: string;
  /** Path as it reaches the rules (no query string). */
  path: string;
  headers: Record<string, string>;
  ip: string;
}

type Value = string | boolean | string[] | boolean[] | Set<string>;

type Token = { kind: 'str' | 'ident' | 'op' | 'punct'; text: string };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let s = '';
      i++;
      while (i < src.length && src[i] !== '"') {
        if (src[i] === '\\') i++;
        s += src[i++];
      }
      if (src[i] !== '"') throw new Error(`unterminated string in ${src}`);
      i++;
      tokens.push({ kind: 'str', text: s });
    } else if (src.startsWith('[*]', i)) {
      tokens.push({ kind: 'punct', text: '[*]' });
      i += 3;
    } else if ('(){},['.includes(c) || c === ']') {
      tokens.push({ kind: 'punct', text: c });
      i++;
    } else if (src.startsWith('==', i) || src.startsWith('!=', i)) {
      tokens.push({ kind: 'op', text: src[i] === '=' ? 'eq' : 'ne' });
      i += 2;
    } else {
      const m = /^[A-Za-z_][\w.]*|^[0-9a-fA-F:.]+\/\d+|^\d+/.exec(src.slice(i));
      if (!m) throw new Error(`unexpected '${c}' at ${i} in ${src}`);
      tokens.push({ kind: 'ident', text: m[0] });
      i += m[0].length;
    }
  }
  return tokens;
}

export function evaluate(expression: string, req: CfRequest): boolean {
  const tokens = tokenize(expression);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const next = (): Token => {
    const t = tokens[pos++];
    if (!t) throw new Error(`unexpected end of ${expression}`);
    return t;
  };
  const expect = (text: string): void => {
    const t = next();
    if (t.text !== text) throw new Error(`expected '${text}', got '${t.text}' in ${expression}`);
  };
  const isWord = (w: string): boolean => peek()?.kind === 'ident' && peek()!.text === w;

  const field = (name: string): Value => {
    switch (name) {
      case 'http.host':
        return req.host;
      case 'http.request.method':
        return req.method;
      case 'http.request.uri.path':
        return req.path;
      case 'ip.src':
        return req.ip;
      case 'http.request.headers.names':
        return Object.keys(req.headers);
      default:
        throw new Error(`field ${name} is not supported by the test evaluator`);
    }
  };

  const callFunction = (name: string, args: Value[]): Value => {
    const mapStr = (v: Value, f: (s: string) => string): Value =>
      Array.isArray(v) ? (v as string[]).map(f) : f(v as string);
    switch (name) {
      case 'lower':
        return mapStr(args[0], (s) => s.toLowerCase());
      case 'url_decode':
        return mapStr(args[0], (s) => decodeURIComponent(s));
      case 'starts_with':
        return (args[0] as string).startsWith(args[1] as string);
      case 'ends_with':
        return (args[0] as string).endsWith(args[1] as string);
      case 'any':
        return (args[0] as boolean[]).some(Boolean);
      default:
        throw new Error(`function ${name} is not supported by the test evaluator`);
    }
  };

  const primary = (): Value => {
    const t = next();
    if (t.kind === 'str') return t.text;
    if (t.text === '(') {
      const v = orExpr();
      expect(')');
      return v;
    }
    if (t.text === '{') {
      const items = new Set<string>();
      while (peek()?.text !== '}') items.add(next().text);
      next();
      return items;
    }
    if (t.kind === 'ident') {
      if (peek()?.text === '(') {
        next();
        const args: Value[] = [];
        while (peek()?.text !== ')') {
          args.push(orExpr());
          if (peek()?.text === ',') next();
        }
        next();
        const v = callFunction(t.text, args);
        if (peek()?.text === '[*]') next();
        return v;
      }
      const v = field(t.text);
      if (peek()?.text === '[*]') next();
      return v;
    }
    throw new Error(`unexpected '${t.text}' in ${expression}`);
  };

  const inSet = (v: string, set: Set<string>): boolean => {
    for (const item of set) {
      if (item === v) return true;
      if (item.includes('/') && v && cidrContains(item, v)) return true;
    }
    return false;
  };

  const comparison = (): Value => {
    const left = primary();
    const op = peek();
    if (op && (op.text === 'eq' || op.text === 'ne' || op.text === 'in' || op.text === 'contains')) {
      next();
      const right = primary();
      const cmp = (l: string): boolean => {
        if (op.text === 'eq') return l === right;
        if (op.text === 'ne') return l !== right;
        if (op.text === 'contains') return l.includes(right as string);
        return inSet(l, right as Set<string>);
      };
      return Array.isArray(left) ? (left as string[]).map(cmp) : cmp(left as string);
    }
    return left;
  };
  const notExpr = (): Value => {
    if (isWord('not')) {
      next();
      return !(notExpr() as boolean);
    }
    return comparison();
  };
  const andExpr = (): Value => {
    let v = notExpr();
    while (isWord('and')) {
      next();
      const r = notExpr();
      v = Boolean(v) && Boolean(r);
    }
    return v;
  };
  const orExpr = (): Value => {
    let v = andExpr();
    while (isWord('or')) {
      next();
      const r = andExpr();
      v = Boolean(v) || Boolean(r);
    }
    return v;
  };

  const result = orExpr();
  if (pos !== tokens.length) throw new Error(`trailing input '${tokens[pos].text}' in ${expression}`);
  if (typeof result !== 'boolean') throw new Error(`${expression} is not a boolean expression`);
  return result;
}

function cidrContains(cidr: string, ip: string): boolean {
  const [net, bits] = cidr.split('/');
  const toInt = (a: string): number => a.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
  if (!net.includes('.') || !ip.includes('.')) return false;
  const mask = Number(bits) === 0 ? 0 : 2 ** 32 - 2 ** (32 - Number(bits));
  return (toInt(net) & mask) >>> 0 === (toInt(ip) & mask) >>> 0;
}

/** Replaces ${local.NAME} in a Terraform string with the (already-substituted) locals, and ${…} from extra. */
export function interpolate(text: string, locals: Record<string, string>, extra: Record<string, string> = {}): string {
  let out = text;
  for (let round = 0; round < 10 && out.includes('${'); round++) {
    out = out.replace(/\$\{([^{}]+)\}/g, (m, ref: string) => {
      const key = ref.trim();
      if (key in extra) return extra[key];
      if (key.startsWith('local.') && key.slice(6) in locals) return locals[key.slice(6)];
      return m;
    });
  }
  if (out.includes('${')) throw new Error(`unresolved interpolation in ${out}`);
  return out;
}
