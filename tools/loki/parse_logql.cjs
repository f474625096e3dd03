#!/usr/bin/env node
// Parse LogQL with Grafana's own grammar (@grafana/lezer-logql, the parser of Grafana's Loki
// query editor) and say, for each expression, where the tree has error nodes.
//
//   stdin:  a JSON array of expressions, ["sum(rate({service=\"x\"}[5m]))", ...]
//   stdout: a JSON array, one object per expression, in order:
//           {"kind": "MetricExpr" | "LogExpr" | null, "errors": [{"from": 3, "to": 4}, ...],
//            "stream_labels": ["service", ...], "grouping_labels": ["agent", ...]}
//
// stream_labels are the label names of the stream selectors ({service="x"}): the lint keeps
// them to the bounded labels Alloy sets. grouping_labels are those of by (...) / without (...),
// which say what $labels.x an alert's description may use. Both come from the tree, so a
// label filter after `| json` (a field of the line, not a stream label) is never mistaken for one.
//
// Offsets are UTF-16 code units (JavaScript string indices); tools/loki/logql.py turns them
// into positions and snippets. One process parses a whole batch: node starts in ~50 ms, so
// starting it once per expression would dominate `make lint-rules`.
"use strict";

const { parser } = require("@grafana/lezer-logql");

function analyse(expression) {
  const tree = parser.parse(expression);
  const errors = [];
  const streamLabels = new Set();
  const groupingLabels = new Set();
  let kind = null;
  let inSelector = 0;
  let inGrouping = 0;
  tree.iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push({ from: node.from, to: node.to });
      } else if (kind === null && (node.name === "MetricExpr" || node.name === "LogExpr")) {
        kind = node.name;
      } else if (node.name === "Selector") {
        inSelector += 1;
      } else if (node.name === "Grouping") {
        inGrouping += 1;
      } else if (node.name === "Identifier") {
        const name = expression.slice(node.from, node.to);
        if (inSelector) streamLabels.add(name);
        if (inGrouping) groupingLabels.add(name);
      }
    },
    leave(node) {
      if (node.name === "Selector") inSelector -= 1;
      if (node.name === "Grouping") inGrouping -= 1;
    },
  });
  return {
    kind,
    errors,
    stream_labels: [...streamLabels].sort(),
    grouping_labels: [...groupingLabels].sort(),
  };
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const expressions = JSON.parse(input);
  if (!Array.isArray(expressions) || !expressions.every((e) => typeof e === "string")) {
    process.stderr.write("parse_logql: stdin must be a JSON array of strings\n");
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(expressions.map(analyse)) + "\n");
});
