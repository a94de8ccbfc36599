// Keeps ONE pull-request comment per stack up to date with its Markdown
// plan, for actions/github-script in plan.yml:
//
//   const post = require('./examples/github-actions/plan-comment.js');
//   await post({ github, context, core, stack: process.env.STACK, planFile: 'plan.md' });
//
// A hidden marker, `<!-- stackplan-plan:STACK -->`, starts the comment, so
// each push finds the stack's comment again and edits it in place instead
// of adding another; a pull request that plans two stacks keeps two.
// crates/stackplan-cli/tests/plan_comment.rs runs it against a fake API.

const fs = require('fs');

// GitHub refuses a comment body over 65,536 characters.
const LIMIT = 65536;
const NOTE = "\n\n… cut to fit a comment: the whole plan is in this job's log.\n";

function marker(stack) {
  return `<!-- stackplan-plan:${stack} -->`;
}

// The comment body: the marker, then the plan. stackplan keeps the
// Markdown under the limit itself; this only makes room for the marker.
function body(stack, plan) {
  const head = `${marker(stack)}\n`;
  if (head.length + plan.length > LIMIT) {
    plan = plan.slice(0, LIMIT - head.length - NOTE.length) + NOTE;
  }
  return head + plan;
}

module.exports = async function post({ github, context, core, stack, planFile }) {
  const text = body(stack, fs.readFileSync(planFile, 'utf8'));
  const { owner, repo } = context.repo;
  const issue_number = context.issue.number;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number,
    per_page: 100,
  });
  // By the marker alone, so a GitHub App or PAT token finds it too.
  const mine = comments.find((c) => (c.body || '').startsWith(marker(stack)));
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body: text });
    core.info(`updated the plan comment ${mine.html_url}`);
    return { action: 'updated', id: mine.id };
  }
  const { data } = await github.rest.issues.createComment({ owner, repo, issue_number, body: text });
  core.info(`created the plan comment ${data.html_url}`);
  return { action: 'created', id: data.id };
};

module.exports.marker = marker;
module.exports.body = body;
module.exports.LIMIT = LIMIT;
