/*
 * cobranza_strings: Jaro-Winkler similarity for PostgreSQL in C, the same definition as DuckDB's
 * jaro_winkler_similarity (rapidfuzz) and as the PL/pgSQL fallback created by the dbt project
 * (dbt_project/macros/string_functions.sql): match window max(len)/2 - 1, half the mismatched
 * matched characters (integer division) as transpositions, prefix bonus 0.1 per common leading
 * character (at most 4) only when the Jaro similarity is above 0.7, the bonus step as one fused
 * multiply-add (DuckDB's build; fma() rounds once), so both targets agree to the last bit.
 *
 * cobranza_jaro_winkler_pairs compares every name of one array with every name of another (a block
 * of names) inside one call: each name is decoded once and no executor row exists per pair.
 *
 * Optional: the PL/pgSQL function costs ~100-200 us per pair of company names that pass the
 * character-bag bound; at profile L the payer-name blocks hold ~350M pairs (bench/RESULTS.md).
 * Build and install with PGXS (`make install`, needs the server headers), then the dbt project's
 * on-run-start uses it when `create extension cobranza_strings` is possible.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "port/pg_bitutils.h"
#include "utils/tuplestore.h"

PG_MODULE_MAGIC;

/*
 * Jaro-Winkler from the match counts (n_half_transpositions: matched characters out of order,
 * counted on both sides): the same operations in the same order as the PL/pgSQL and DuckDB, so
 * the result is equal bit for bit. Shared by jaro_winkler() and jaro_winkler_bits().
 */
static double
jaro_winkler_score(int n_matches, int n_half_transpositions, const pg_wchar *a, int len_a,
				   const pg_wchar *b, int len_b)
{
	int			n_transpositions = n_half_transpositions / 2;
	int			prefix = 0;
	double		similarity;

	similarity = (double) n_matches / (double) len_a + (double) n_matches / (double) len_b;
	similarity = similarity + (double) (n_matches - n_transpositions) / (double) n_matches;
	similarity = similarity / 3.0;
	if (similarity > 0.7)
	{
		while (prefix < Min(4, Min(len_a, len_b)) && a[prefix] == b[prefix])
			prefix++;
		similarity = fma((double) prefix * 0.1, 1.0 - similarity, similarity);
	}
	return similarity;
}

/*
 * The similarity of a and b; with max_misses >= 0, 0 as soon as more than max_misses characters
 * of a found no match (the caller has worked out that the threshold is then out of reach).
 */
static double
jaro_winkler(const pg_wchar *a, int len_a, const pg_wchar *b, int len_b, int max_misses)
{
	bool		stack_a[256];
	bool		stack_b[256];
	int			bound;
	bool	   *matched_a;
	bool	   *matched_b;
	int			n_matches = 0;
	int			n_transpositions = 0;
	int			i, j;

	if (len_a == 0 || len_b == 0)
		return 0.0;
	bound = Max(Max(len_a, len_b) / 2 - 1, 0);
	matched_a = len_a <= 256 ? stack_a : palloc(sizeof(bool) * len_a);
	matched_b = len_b <= 256 ? stack_b : palloc(sizeof(bool) * len_b);
	memset(matched_a, 0, sizeof(bool) * len_a);
	memset(matched_b, 0, sizeof(bool) * len_b);
	for (i = 0; i < len_a; i++)
	{
		int			lo = Max(0, i - bound);
		int			hi = Min(len_b - 1, i + bound);

		for (j = lo; j <= hi; j++)
		{
			if (!matched_b[j] && a[i] == b[j])
			{
				matched_a[i] = true;
				matched_b[j] = true;
				n_matches++;
				break;
			}
		}
		if (max_misses >= 0 && i + 1 - n_matches > max_misses)
		{
			n_matches = 0;
			break;
		}
	}
	if (n_matches == 0)
	{
		if (matched_a != stack_a)
			pfree(matched_a);
		if (matched_b != stack_b)
			pfree(matched_b);
		return 0.0;
	}
	j = 0;
	for (i = 0; i < len_a; i++)
	{
		if (matched_a[i])
		{
			while (!matched_b[j])
				j++;
			if (a[i] != b[j])
				n_transpositions++;
			j++;
		}
	}
	if (matched_a != stack_a)
		pfree(matched_a);
	if (matched_b != stack_b)
		pfree(matched_b);
	return jaro_winkler_score(n_matches, n_transpositions, a, len_a, b, len_b);
}


/*
 * A name prepared for the bit-parallel comparison (ASCII and at most 64 characters): for each
 * character, the bit mask of its positions. The same greedy matching as jaro_winkler(): a[i] takes
 * the first not-yet-matched equal character of b in its window, i.e. the lowest set bit of
 * positions[a[i]] & window & ~matched (as rapidfuzz does it).
 */
typedef struct
{
	bool		bits_ok;		/* ASCII and <= 64 characters */
	uint64		positions[128];
} PreparedName;

static void
prepare_name(const pg_wchar *s, int len, PreparedName *p)
{
	int			i;

	p->bits_ok = len <= 64;
	for (i = 0; i < len && p->bits_ok; i++)
		if (s[i] >= 128)
			p->bits_ok = false;
	if (!p->bits_ok)
		return;
	memset(p->positions, 0, sizeof(p->positions));
	for (i = 0; i < len; i++)
		p->positions[s[i]] |= UINT64CONST(1) << i;
}

static double
jaro_winkler_bits(const pg_wchar *a, int len_a, const pg_wchar *b, int len_b, const PreparedName *pb, int max_misses)
{
	int			bound = Max(Max(len_a, len_b) / 2 - 1, 0);
	uint64		matched_a = 0;
	uint64		matched_b = 0;
	uint64		flagged_a;
	uint64		flagged_b;
	int			n_matches = 0;
	int			n_transpositions = 0;
	int			i;

	if (len_a == 0 || len_b == 0)
		return 0.0;
	for (i = 0; i < len_a; i++)
	{
		int			lo = Max(0, i - bound);
		int			hi = Min(len_b - 1, i + bound);
		uint64		window;
		uint64		candidates;

		if (lo <= hi)
		{
			/* bits lo..hi */
			window = (hi >= 63 ? ~UINT64CONST(0) : ((UINT64CONST(1) << (hi + 1)) - 1)) & ~((UINT64CONST(1) << lo) - 1);
			candidates = pb->positions[a[i]] & window & ~matched_b;
			if (candidates)
			{
				matched_b |= candidates & (~candidates + 1);
				matched_a |= UINT64CONST(1) << i;
				n_matches++;
			}
		}
		if (max_misses >= 0 && i + 1 - n_matches > max_misses)
			return 0.0;
	}
	if (n_matches == 0)
		return 0.0;
	flagged_a = matched_a;
	flagged_b = matched_b;
	while (flagged_a)
	{
		int			ia = pg_rightmost_one_pos64(flagged_a);
		int			jb = pg_rightmost_one_pos64(flagged_b);

		if (a[ia] != b[jb])
			n_transpositions++;
		flagged_a &= flagged_a - 1;
		flagged_b &= flagged_b - 1;
	}
	return jaro_winkler_score(n_matches, n_transpositions, a, len_a, b, len_b);
}

static bool
ascii_only(const pg_wchar *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
		if (s[i] >= 128)
			return false;
	return true;
}

static pg_wchar *
to_wchars(text *t, int *len)
{
	int			bytes = VARSIZE_ANY_EXHDR(t);
	pg_wchar   *w = palloc(sizeof(pg_wchar) * (bytes + 1));

	*len = pg_mb2wchar_with_len(VARDATA_ANY(t), w, bytes);
	return w;
}

static int	max_misses_for(int len_a, int len_b, double at_least);

PG_FUNCTION_INFO_V1(cobranza_jaro_winkler_c);

/* cobranza_jaro_winkler_c(a text, b text) returns double precision */
Datum
cobranza_jaro_winkler_c(PG_FUNCTION_ARGS)
{
	int			len_a, len_b;
	pg_wchar   *a = to_wchars(PG_GETARG_TEXT_PP(0), &len_a);
	pg_wchar   *b = to_wchars(PG_GETARG_TEXT_PP(1), &len_b);

	PG_RETURN_FLOAT8(jaro_winkler(a, len_a, b, len_b, -1));
}

PG_FUNCTION_INFO_V1(cobranza_jaro_winkler_at_least_c);

/* cobranza_jaro_winkler_at_least_c(a text, b text, at_least double precision): the similarity, or 0 below at_least */
Datum
cobranza_jaro_winkler_at_least_c(PG_FUNCTION_ARGS)
{
	int			len_a, len_b;
	pg_wchar   *a = to_wchars(PG_GETARG_TEXT_PP(0), &len_a);
	pg_wchar   *b = to_wchars(PG_GETARG_TEXT_PP(1), &len_b);
	double		at_least = PG_GETARG_FLOAT8(2);
	double		similarity;
	int			max_misses = max_misses_for(len_a, len_b, at_least);

	if (max_misses < 0)
		PG_RETURN_FLOAT8(0.0);
	similarity = jaro_winkler(a, len_a, b, len_b, max_misses);
	PG_RETURN_FLOAT8(similarity >= at_least ? similarity : 0.0);
}

/* the most matches a pair of lengths allows to miss for at_least, or -1 when it is out of reach */
static int
max_misses_for(int len_a, int len_b, double at_least)
{
	double		jaro_at_least = (at_least - 0.4) / 0.6;
	int			max_misses;

	/* Jaro <= (2 + min/max) / 3 and the bonus adds at most 0.4 * (1 - Jaro): hopeless lengths */
	if (len_a == 0 || len_b == 0
		|| 0.4 + 0.6 * (2.0 + (double) Min(len_a, len_b) / (double) Max(len_a, len_b)) / 3.0 < at_least - 1e-9)
		return -1;
	/* with m matches Jaro <= (m / len_a + m / len_b + 1) / 3 (one match of slack for rounding) */
	max_misses = len_a - ((int) floor((jaro_at_least * 3.0 - 1.0) / (1.0 / len_a + 1.0 / len_b)) - 1);
	return max_misses < 0 ? -1 : max_misses;
}

PG_FUNCTION_INFO_V1(cobranza_jaro_winkler_pairs);

/*
 * cobranza_jaro_winkler_pairs(a text[], b text[], at_least double precision)
 * returns table (i integer, j integer, similarity double precision): every pair of a[i], b[j]
 * (1-based, null elements skipped) whose Jaro-Winkler similarity is at least at_least.
 */
Datum
cobranza_jaro_winkler_pairs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *array_a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *array_b = PG_GETARG_ARRAYTYPE_P(1);
	double		at_least = PG_GETARG_FLOAT8(2);
	Datum	   *items_a, *items_b;
	bool	   *nulls_a, *nulls_b;
	int			n_a, n_b, i, j;
	pg_wchar  **w_a, **w_b;
	int		   *len_a, *len_b;
	PreparedName *prepared_b;

	InitMaterializedSRF(fcinfo, 0);
	deconstruct_array(array_a, TEXTOID, -1, false, TYPALIGN_INT, &items_a, &nulls_a, &n_a);
	deconstruct_array(array_b, TEXTOID, -1, false, TYPALIGN_INT, &items_b, &nulls_b, &n_b);
	w_a = palloc(sizeof(pg_wchar *) * Max(n_a, 1));
	w_b = palloc(sizeof(pg_wchar *) * Max(n_b, 1));
	len_a = palloc(sizeof(int) * Max(n_a, 1));
	len_b = palloc(sizeof(int) * Max(n_b, 1));
	for (i = 0; i < n_a; i++)
		w_a[i] = nulls_a[i] ? NULL : to_wchars(DatumGetTextPP(items_a[i]), &len_a[i]);
	prepared_b = palloc(sizeof(PreparedName) * Max(n_b, 1));
	for (j = 0; j < n_b; j++)
	{
		w_b[j] = nulls_b[j] ? NULL : to_wchars(DatumGetTextPP(items_b[j]), &len_b[j]);
		if (w_b[j] != NULL)
			prepare_name(w_b[j], len_b[j], &prepared_b[j]);
	}
	for (i = 0; i < n_a; i++)
	{
		if (w_a[i] == NULL)
			continue;
		for (j = 0; j < n_b; j++)
		{
			int			max_misses;
			double		similarity;
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			if (w_b[j] == NULL)
				continue;
			max_misses = max_misses_for(len_a[i], len_b[j], at_least);
			if (max_misses < 0)
				continue;
			if (prepared_b[j].bits_ok && len_a[i] <= 64 && ascii_only(w_a[i], len_a[i]))
				similarity = jaro_winkler_bits(w_a[i], len_a[i], w_b[j], len_b[j], &prepared_b[j], max_misses);
			else
				similarity = jaro_winkler(w_a[i], len_a[i], w_b[j], len_b[j], max_misses);
			if (similarity < at_least)
				continue;
			values[0] = Int32GetDatum(i + 1);
			values[1] = Int32GetDatum(j + 1);
			values[2] = Float8GetDatum(similarity);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(cobranza_jaro_winkler_bits);

/* cobranza_jaro_winkler_bits(a text, b text): the bit-parallel path (for tests; null when it does not apply) */
Datum
cobranza_jaro_winkler_bits(PG_FUNCTION_ARGS)
{
	int			len_a, len_b;
	pg_wchar   *a = to_wchars(PG_GETARG_TEXT_PP(0), &len_a);
	pg_wchar   *b = to_wchars(PG_GETARG_TEXT_PP(1), &len_b);
	PreparedName *pb = palloc(sizeof(PreparedName));

	prepare_name(b, len_b, pb);
	if (!pb->bits_ok || len_a > 64 || !ascii_only(a, len_a))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(jaro_winkler_bits(a, len_a, b, len_b, pb, -1));
}
