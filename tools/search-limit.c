/* Each search backend's token bucket (its rate limit) and breaker. */
#include "search.h"

void search_bucket_init(struct search_bucket *b, double burst, double per_second,
    int64_t min_interval_ms)
{
	*b = (struct search_bucket){
		.tokens = burst,
		.burst = burst,
		.per_ms = per_second / 1000.0,
		.min_interval_ms = min_interval_ms > 0 ? min_interval_ms : 0,
		.last_refill = -1,
		.last_take = -1,
	};
}

int64_t search_bucket_take(struct search_bucket *b, int64_t now)
{
	int64_t wait = 0;

	if (b->last_refill >= 0 && now > b->last_refill) {
		b->tokens += (double)(now - b->last_refill) * b->per_ms;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
	}
	if (b->last_refill < 0 || now > b->last_refill)
		b->last_refill = now;
	if (b->last_take >= 0 && now - b->last_take < b->min_interval_ms)
		wait = b->min_interval_ms - (now - b->last_take);
	if (b->tokens < 1.0) {
		int64_t w;

		if (b->per_ms <= 0)
			return INT64_MAX;
		w = (int64_t)((1.0 - b->tokens) / b->per_ms);
		if ((double)w * b->per_ms < 1.0 - b->tokens)
			w++;
		if (w < 1)
			w = 1;
		if (w > wait)
			wait = w;
	}
	if (wait > 0)
		return wait;
	b->tokens -= 1.0;
	b->last_take = now;
	return 0;
}

void search_breaker_init(struct search_breaker *b, unsigned threshold, int64_t cooldown_ms)
{
	*b = (struct search_breaker){ .threshold = threshold ? threshold : 1,
	    .cooldown_ms = cooldown_ms };
}

bool search_breaker_allow(struct search_breaker *b, int64_t now)
{
	if (b->failures < b->threshold && now >= b->open_until)
		return true;
	if (b->trial || now < b->open_until)
		return false;
	b->trial = true;
	return true;
}

void search_breaker_record(struct search_breaker *b, bool ok, int64_t now)
{
	b->trial = false;
	if (ok) {
		b->failures = 0;
		b->open_until = 0;
		return;
	}
	b->failures++;
	if (b->failures >= b->threshold)
		b->open_until = now + b->cooldown_ms;
}
