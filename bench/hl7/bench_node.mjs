// bench_node.mjs -- issue 3 benchmark, the npm side: parse + serialise with
// hl7parser and simple-hl7.
//
//   node bench/hl7/bench_node.mjs hl7parser|simple-hl7 CORPUS REPS
//
// The corpus (one message a line, CR segment ends, UTF-8) is read and split
// into JS strings before timing: the libraries work on strings, so the
// UTF-8 decoding is not counted against them. Each message is parsed
// completely and serialised back, one after another; a warm-up pass (also
// the round-trip check) comes first, then REPS timed passes. Prints one
// JSON line like bench_c.
//
// hl7parser parses lazily (a node splits its text on first access to its
// children) and its toString() returns the cached input text unless a node
// was changed. To make it do the same work as the others, the adapter walks
// the whole tree down to the subcomponents (forcing every split) and marks
// every inner node changed (the library's own setDirty state), so that
// toString() rebuilds the message from the tree by joining, as it does
// after an edit.
//
// simple-hl7 splits eagerly down to subcomponents in Parser.parse() and
// rebuilds in Message.toString().
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const [impl, corpusPath, repsArg] = process.argv.slice(2);
const reps = Number(repsArg || 5);

function roundTripFor(name) {
    if (name === 'hl7parser') {
        const hl7parser = require('hl7parser');
        // levels: 0 message, 1 segment, 2 field, 3 repetition, 4 component,
        // 5 subcomponent (leaf: its delimiter is null)
        const walk = (node, level) => {
            if (level === 5) return;
            node._dirty = true;
            const ch = node.children;
            for (let i = 0; i < ch.length; i++) walk(ch[i], level + 1);
        };
        return (text) => {
            // a trailing CR would make an empty last segment, which the
            // library refuses ("Segment must have a name")
            const t = text.charCodeAt(text.length - 1) === 13 ? text.slice(0, -1) : text;
            const msg = hl7parser.create(t);
            walk(msg, 0);
            return msg.toString() + '\r';
        };
    }
    if (name === 'simple-hl7') {
        const hl7 = require('simple-hl7');
        const parser = new hl7.Parser();
        return (text) => parser.parse(text).toString() + '\r';
    }
    throw new Error(`unknown implementation ${name}`);
}

function version(name) {
    return JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;
}

const segs = (s) => s.split('\r').filter((x) => x !== '');

const rt = roundTripFor(impl);
const msgs = readFileSync(corpusPath, 'utf8').split('\n').filter((x) => x !== '');
let bytes = 0;
for (const m of msgs) bytes += Buffer.byteLength(m);

// warm-up pass and round-trip check
let identical = 0, same = 0, expect = 0;
for (const m of msgs) {
    const out = rt(m);
    if (out === m) identical++;
    const a = segs(out), b = segs(m);
    if (a.length === b.length) same++;
    expect += out.length;
}

const rates = [], cpu = [];
for (let r = 0; r < reps; r++) {
    let got = 0;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let i = 0; i < msgs.length; i++) got += rt(msgs[i]).length;
    const c = process.cpuUsage(c0);
    const t = Number(process.hrtime.bigint() - t0) / 1e9;
    cpu.push(msgs.length / ((c.user + c.system) / 1e6));
    if (got !== expect) {
        console.error(`pass ${r}: ${got} characters out, expected ${expect}`);
        process.exit(1);
    }
    rates.push(msgs.length / t);
}
const median = (v) => {
    const s = [...v].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(JSON.stringify({
    impl: `${impl} (Node ${process.version})`, version: version(impl),
    messages: msgs.length, bytes, identical, same_segments: same, out_chars: expect,
    rates: rates.map((x) => Math.round(x * 10) / 10), median: Math.round(median(rates) * 10) / 10, cpu_median: Math.round(median(cpu) * 10) / 10,
}));
