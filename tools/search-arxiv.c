/* The arXiv backend: the export API's Atom feed, parsed with libxml2 (no
 * network, no DTD, no entities beyond XML's own, no recovery, capped size):
 * feed/entry id, title, summary, published, link rel="alternate" (arxiv.org
 * links made https). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "search.h"
#include "url.h"
#include "xmalloc.h"

#define ATOM_NS "http://www.w3.org/2005/Atom"

/* arXiv's query language treats ':' '(' '"' and friends as syntax: keep the
 * words, each required in any field (all:w1 AND all:w2 ...). */
#define ARXIV_MAX_WORDS 16

static int arxiv_start(const struct search *s, const struct search_query *q,
    const struct search_parse_args *a, struct search_http_req *ret)
{
	const char *base = search_config_url(s, "arxiv");
	char *text = xstrdup(q->q), *save = NULL;
	unsigned words = 0;
	struct buf b;
	int r;

	for (unsigned char *p = (unsigned char *)text; *p; p++)
		if (*p < 0x80 && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
			*p = ' ';
	buf_init(&b, URL_MAX);
	r = buf_printf(&b, "%s?search_query=", base);
	for (char *w = strtok_r(text, " ", &save); w && r == 0 && words < ARXIV_MAX_WORDS;
	    w = strtok_r(NULL, " ", &save)) {
		if (words++)
			r = buf_puts(&b, "+AND+");
		if (r == 0)
			r = buf_puts(&b, "all:");
		if (r == 0)
			r = search_url_escape(&b, w);
	}
	free(text);
	if (r == 0 && words == 0)
		r = -EINVAL;
	if (r == 0)
		r = buf_printf(&b, "&start=0&max_results=%u&sortBy=relevance",
		    a->max_results ? a->max_results : 10);
	if (r < 0) {
		buf_free(&b);
		return r;
	}
	ret->url = buf_steal(&b);
	ret->headers[0] = "Accept: application/atom+xml";
	return 0;
}

static void arxiv_cancel(const struct search *s)
{
}

static bool is_atom(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
	    !strcmp((const char *)n->ns->href, ATOM_NS) && !strcmp((const char *)n->name, name);
}

/* Text content of n (it has no entity references: the document has no DTD). */
static char *text_of(const xmlNode *n)
{
	xmlChar *t = xmlNodeGetContent(n);
	char *s = xstrdup(t ? (const char *)t : "");

	xmlFree(t);
	return s;
}

static int arxiv_entry(const xmlNode *e, struct search_hits *out)
{
	char *id = NULL, *title = NULL, *summary = NULL, *published = NULL, *alt = NULL;
	const char *url;
	int r;

	for (const xmlNode *n = e->children; n; n = n->next) {
		if (is_atom(n, "id") && !id)
			id = text_of(n);
		else if (is_atom(n, "title") && !title)
			title = text_of(n);
		else if (is_atom(n, "summary") && !summary)
			summary = text_of(n);
		else if (is_atom(n, "published") && !published)
			published = text_of(n);
		else if (is_atom(n, "link") && !alt) {
			xmlChar *rel = xmlGetNoNsProp(n, (const xmlChar *)"rel");
			xmlChar *href = xmlGetNoNsProp(n, (const xmlChar *)"href");

			if (href && (rel == NULL || !strcmp((const char *)rel, "alternate")))
				alt = xstrdup((const char *)href);
			xmlFree(rel);
			xmlFree(href);
		}
	}
	/* The API reports a bad query as one entry whose id is an error URL. */
	if (id && strstr(id, "arxiv.org/api/errors"))
		r = -EPROTO;
	else {
		char *https = NULL;

		url = alt ? alt : id;
		if (url)
			while (*url == ' ' || *url == '\n' || *url == '\t' || *url == '\r')
				url++;
		/* The feed says http://arxiv.org/abs/...; the site is https. */
		if (url && !strncmp(url, "http://arxiv.org/", 17))
			url = https = xasprintf("https://%s", url + 7);
		r = search_hits_add(out, url, title, title ? strlen(title) : 0,
		    summary, summary ? strlen(summary) : 0, false, published);
		free(https);
		if (r == -EINVAL || r == -ENAMETOOLONG)
			r = 0;	/* an entry without a usable URL is skipped */
	}
	free(id);
	free(title);
	free(summary);
	free(published);
	free(alt);
	return r;
}

int search_arxiv_parse(const char *data, size_t len, const struct search_parse_args *a,
    struct search_hits *out)
{
	xmlDoc *doc;
	xmlNode *root;
	int r = 0;

	if (len > SEARCH_MAX_BODY || len > INT_MAX)
		return -EFBIG;
	/* No XML_PARSE_NOENT (no entity substitution), no DTD loading, no
	 * network, no recovery: a broken feed is an error. */
	doc = xmlReadMemory(data, (int)len, "arxiv.atom", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return -EBADMSG;
	/* A feed has no DTD; one that brings its own may define entities. */
	if (doc->intSubset || doc->extSubset) {
		xmlFreeDoc(doc);
		return -EBADMSG;
	}
	root = xmlDocGetRootElement(doc);
	if (root == NULL || !is_atom(root, "feed")) {
		xmlFreeDoc(doc);
		return -EBADMSG;
	}
	for (const xmlNode *n = root->children; n && r == 0; n = n->next)
		if (is_atom(n, "entry"))
			r = arxiv_entry(n, out);
	if (r == -ENOSPC)
		r = 0;
	xmlFreeDoc(doc);
	return r;
}

const struct search_backend search_backend_arxiv = {
	.name = "arxiv",
	.start = arxiv_start,
	.cancel = arxiv_cancel,
	.parse = search_arxiv_parse,
};
