// Post the alertpolicy review as one pull-request comment, or update the one posted before
// (found by its first line, the marker). Called by the action through actions/github-script
// with its `github` client and `context`; the comment body is read from `bodyFile`.
const fs = require("fs");

const MARKER = "<!-- alertpolicy-review -->";
const LIMIT = 65000; // GitHub refuses comments over 65,536 characters

module.exports = async function post({ github, context, bodyFile }) {
  let body = fs.readFileSync(bodyFile, "utf8");
  if (body.length > LIMIT) {
    const run = `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`;
    body = `${body.slice(0, LIMIT)}\n\n…cut short: the whole review is in the [job summary](${run}).`;
  }
  const issue_number = context.payload.pull_request.number;
  const comments = await github.paginate(github.rest.issues.listComments, {
    ...context.repo,
    issue_number,
    per_page: 100,
  });
  const mine = comments.find((c) => c.user.type === "Bot" && c.body.startsWith(MARKER));
  if (mine) {
    await github.rest.issues.updateComment({ ...context.repo, comment_id: mine.id, body });
    return { action: "updated", comment_id: mine.id, body };
  }
  await github.rest.issues.createComment({ ...context.repo, issue_number, body });
  return { action: "created", body };
};
