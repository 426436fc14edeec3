/* research watch's view of a research job's progress: the figures of its
 * "progress" events and its usage, the bar, the estimate of the time left
 * and the line that shows them (see progress.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "progress.h"

/* Where each phase of the planner (planner/planner.c phase_name) puts the
 * job, as a share of the whole. Rounds of research share [RESEARCH_FROM,
 * RESEARCH_TO] by max_depth; in_round phases say how far into a round. */
#define RESEARCH_FROM 0.08
#define RESEARCH_TO 0.75

static const struct {
	const char *name;
	double at;
	bool in_round;
} cli_phases[] = {
	{ "starting", 0.00, false },
	{ "brief", 0.02, false },
	{ "plan", 0.05, false },
	{ "search", 0.00, true },
	{ "fetch", 0.20, true },
	{ "extract", 0.40, true },
	{ "read", 0.55, true },
	{ "clock", 0.80, true },
	{ "reflect", 0.85, true },
	{ "outline", 0.78, false },
	{ "write", 0.82, false },
	{ "publish", 0.96, false },
	{ "done", 1.00, false },
};

static int progress_int(const json_t *data, const char *key, int64_t *ret)
{
	int64_t v;

	if (json_get_int(data, key, &v) < 0 || v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int cli_progress_update(struct cli_progress *p, const json_t *data)
{
	struct cli_progress n = *p;
	const char *phase = NULL;
	size_t len;

	if (json_get_string(data, "phase", &phase) < 0)
		return -EINVAL;
	/* A phase is a short lowercase word; anything else is not shown. */
	len = strlen(phase);
	if (len == 0 || len >= sizeof(n.phase) || strspn(phase, "abcdefghijklmnopqrstuvwxyz_") != len)
		return -EINVAL;
	if (progress_int(data, "round", &n.round) < 0 ||
	    progress_int(data, "questions_open", &n.questions_open) < 0 ||
	    progress_int(data, "questions_done", &n.questions_done) < 0 ||
	    progress_int(data, "sources", &n.sources) < 0 ||
	    progress_int(data, "findings_kept", &n.findings_kept) < 0 ||
	    progress_int(data, "findings_rejected", &n.findings_rejected) < 0 ||
	    progress_int(data, "tokens", &n.tokens) < 0)
		return -EINVAL;
	/* Newer or older runners may leave these out. */
	if (progress_int(data, "max_tokens", &n.max_tokens) < 0)
		n.max_tokens = p->max_tokens;
	if (progress_int(data, "model_calls", &n.model_calls) < 0)
		n.model_calls = 0;
	memcpy(n.phase, phase, len + 1);
	n.have = true;
	*p = n;
	return 0;
}

void cli_progress_job(struct cli_progress *p, const json_t *job)
{
	json_t *o = NULL;
	int64_t v;

	if (json_get_object(job, "options", &o) == 0) {
		if (progress_int(o, "max_depth", &v) == 0)
			p->max_depth = v;
		if (progress_int(o, "max_time", &v) == 0)
			p->max_time = v;
		if (progress_int(o, "max_tokens", &v) == 0 && p->max_tokens == 0)
			p->max_tokens = v;
	}
	if (json_get_object(job, "usage", &o) == 0) {
		if (progress_int(o, "completion_tokens", &v) == 0)
			p->completion_tokens = v;
		if (progress_int(o, "llm_ms", &v) == 0)
			p->llm_ms = v;
	}
}

static double clamp01(double v)
{
	return v < 0 ? 0 : v > 1 ? 1 : v;
}

double cli_progress_fraction(const struct cli_progress *p, int64_t elapsed_s)
{
	double f = 0, budget = 0;
	bool in_round = true;

	if (!p->have)
		return 0;
	if (p->max_tokens > 0)
		budget = (double)p->tokens / (double)p->max_tokens;
	if (p->max_time > 0 && elapsed_s > 0 && (double)elapsed_s / (double)p->max_time > budget)
		budget = (double)elapsed_s / (double)p->max_time;
	budget = clamp01(budget);
	for (size_t i = 0; i < sizeof(cli_phases) / sizeof(cli_phases[0]); i++) {
		if (strcmp(p->phase, cli_phases[i].name) != 0)
			continue;
		in_round = cli_phases[i].in_round;
		if (!in_round)
			return cli_phases[i].at;
		if (p->max_depth > 0 && p->round > 0) {
			double rounds = ((double)(p->round - 1) + cli_phases[i].at) / (double)p->max_depth;

			f = RESEARCH_FROM + (RESEARCH_TO - RESEARCH_FROM) * clamp01(rounds);
		}
		break;
	}
	/* Research ends when a budget runs out, whatever the round: the share
	 * of the budget spent is a floor. */
	if (in_round && RESEARCH_FROM + (RESEARCH_TO - RESEARCH_FROM) * budget > f)
		f = RESEARCH_FROM + (RESEARCH_TO - RESEARCH_FROM) * budget;
	return clamp01(f);
}

int64_t cli_progress_left(const struct cli_progress *p, int64_t elapsed_s)
{
	double f = cli_progress_fraction(p, elapsed_s), left;
	int64_t s, unit;

	/* Too little seen to extrapolate from. */
	if (f < 0.03 || elapsed_s < 10)
		return -1;
	if (f >= 1)
		return 0;
	/* The pace so far, with a quarter more: later rounds read more
	 * sources and the write-up is long, so the guess errs long. */
	left = (double)elapsed_s * (1 - f) / f * 1.25;
	if (left > 1e9)
		left = 1e9;
	/* Rounded up: to 10 s under a minute, to the minute above. */
	s = (int64_t)left;
	if ((double)s < left)
		s++;
	unit = s < 60 ? 10 : 60;
	return (s + unit - 1) / unit * unit;
}

double cli_progress_speed(const struct cli_progress *p)
{
	if (p->completion_tokens <= 0 || p->llm_ms <= 0)
		return -1;
	return (double)p->completion_tokens * 1000.0 / (double)p->llm_ms;
}

void cli_progress_duration(int64_t s, char out[static 32])
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, 32, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, 32, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(out, 32, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
}

static void progress_count(int64_t n, char out[static 32])
{
	if (n < 1000)
		snprintf(out, 32, "%lld", (long long)n);
	else if (n < 1000000)
		snprintf(out, 32, "%.1fk", (double)n / 1e3);
	else if (n < 1000000000)
		snprintf(out, 32, "%.2fM", (double)n / 1e6);
	else
		snprintf(out, 32, "%.2fG", (double)n / 1e9);
}

int cli_progress_bar(double fraction, int width, struct buf *out)
{
	int inner, full, r;

	if (width < 8)
		width = 8;
	/* "[" + inner + "] " + "100%" */
	inner = width - 7;
	fraction = clamp01(fraction);
	full = (int)(fraction * inner);
	r = buf_putc(out, '[');
	for (int i = 0; i < inner && r == 0; i++)
		r = buf_putc(out, i < full ? '#' : '-');
	if (r == 0)
		r = buf_printf(out, "] %3d%%", (int)(fraction * 100));
	return r < 0 ? r : 0;
}

int cli_progress_format(const struct cli_progress *p, int64_t elapsed_s, bool compact,
    struct buf *out)
{
	char tok[32], max[32], el[32], left[40] = "", d[32];
	double speed = cli_progress_speed(p);
	int64_t l = elapsed_s >= 0 && !p->ended ? cli_progress_left(p, elapsed_s) : -1;
	int r;

	if (!p->have)
		return buf_puts(out, compact ? "no progress yet" : "no progress reported yet");
	progress_count(p->tokens, tok);
	progress_count(p->max_tokens, max);
	cli_progress_duration(elapsed_s, el);
	if (l >= 0) {
		cli_progress_duration(l, d);
		snprintf(left, sizeof(left), "~%s", d);
	}
	if (compact) {
		r = buf_printf(out, "%s r%lld", p->phase, (long long)p->round);
		if (r == 0 && p->max_depth > 0)
			r = buf_printf(out, "/%lld", (long long)p->max_depth);
		if (r == 0)
			r = buf_printf(out, "  q %lld open %lld done  src %lld  find %lld ok %lld rej"
			    "  tok %s/%s", (long long)p->questions_open, (long long)p->questions_done,
			    (long long)p->sources, (long long)p->findings_kept,
			    (long long)p->findings_rejected, tok, p->max_tokens > 0 ? max : "?");
		if (r == 0 && speed >= 0)
			r = buf_printf(out, "  %.1f tok/s", speed);
		if (r == 0 && elapsed_s >= 0)
			r = buf_printf(out, "  %s", el);
		if (r == 0 && left[0])
			r = buf_printf(out, "  %s left", left);
		return r;
	}
	r = buf_printf(out, "%s, round %lld", p->phase, (long long)p->round);
	if (r == 0 && p->max_depth > 0)
		r = buf_printf(out, " of %lld", (long long)p->max_depth);
	if (r == 0)
		r = buf_printf(out, ": sub-questions %lld open, %lld done; sources %lld; "
		    "findings %lld kept, %lld rejected; tokens %s of %s",
		    (long long)p->questions_open, (long long)p->questions_done, (long long)p->sources,
		    (long long)p->findings_kept, (long long)p->findings_rejected, tok,
		    p->max_tokens > 0 ? max : "?");
	if (r == 0 && speed >= 0)
		r = buf_printf(out, "; model %.1f tokens/s", speed);
	if (r == 0 && elapsed_s >= 0)
		r = buf_printf(out, "; elapsed %s", el);
	if (r == 0 && left[0])
		r = buf_printf(out, "; %s left", left);
	return r;
}
