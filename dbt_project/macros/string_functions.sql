{#-
    String functions DuckDB has built in and Postgres lacks (none of fuzzystrmatch, unaccent or
    pg_trgm has them), created as plpgsql functions in the target schema by the on-run-start hook
    (a no-op on DuckDB). Both follow DuckDB's definitions so the two targets match the same pairs:
    - Damerau-Levenshtein, unrestricted (Lowrance-Wagner): insertions, deletions, substitutions and
      transpositions of adjacent characters, with edits allowed between transposed ones.
    - Jaro-Winkler as in rapidfuzz (which DuckDB uses): match window max(len)/2 - 1, half the
      mismatched matched characters (integer division) as transpositions, prefix bonus 0.1 per
      common leading character (at most 4) only when the Jaro similarity is above 0.7. DuckDB's build
      computes the bonus step with a fused multiply-add (one rounding); cobranza_float8_exact lets
      Postgres do the same in exact NUMERIC arithmetic, so the similarities agree to the last bit.
    - Jaro-Winkler "at least": the same similarity when it reaches a threshold, else 0, for joins
      that keep only similar pairs. PL/pgSQL costs ~0.5 us per statement, so this one gives up as
      soon as the similarity can no longer reach the threshold (too many characters of the first
      string without a match, or too few matches even with no transpositions and the full prefix
      bonus), and finds each match with one strpos over the window of not-yet-matched characters
      (matched ones are overwritten with chr(1)) instead of a loop: ~3x faster on bank payer names.
    - Bag of characters: a name's multiset of characters (A-Z, 0-9, space; up to 16 of each) as a
      bit string, bit (c * 16 + k) set for the k-th occurrence of c, so the size of the multiset
      intersection of two names is bit_count(a & b), computed in C. Jaro matches are pairs of equal
      characters, so their number is at most that size: an upper bound on the similarity that
      rules out ~80% of the block pairs of bank payer names before the PL/pgSQL function runs.
      Null for a name outside that alphabet or with more than 16 of a character (no bound).
    - The C version (optional): where the server has the extension `cobranza_strings`
      (dbt_project/pg_extension/cobranza_strings: Jaro-Winkler in C, the same definition, bit for
      bit), the hook creates it and `cobranza_name_similarity_at_least` / `cobranza_name_bag`, the
      two functions the models call, are defined on it; elsewhere (or with the dbt var
      postgres_c_strings false) on the bag bound and PL/pgSQL.
      Both are one-expression SQL functions, which the planner inlines. At profile L the payer-name
      blocks hold ~350M pairs: ~2 us each in C, ~1.5 us for the bag bound alone and 100-200 us in
      PL/pgSQL for each of the ~20% that pass it (bench/RESULTS.md), so L needs the C version.
    - One edit apart (Damerau-Levenshtein distance exactly 1): one substitution, insertion,
      deletion or adjacent transposition at the first position where the strings differ, the rest
      equal. O(length), where the full distance matrix in PL/pgSQL costs ~300 us per invoice number.
-#}

{#- Whether the target has the C extension (created by create_string_functions, which runs as the
    on-run-start hook, before any model is compiled): models may then use its set functions. -#}
{% macro c_string_functions_available() -%}
    {%- if target.type != 'postgres' or not execute or not var('postgres_c_strings', true) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query("select count(*) from pg_extension where extname = 'cobranza_strings'") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}

{% macro create_string_functions() -%}
    {{ return(adapter.dispatch('create_string_functions', 'cobranza')()) }}
{%- endmacro %}

{% macro default__create_string_functions() -%}
{%- endmacro %}

{% macro postgres__create_string_functions() -%}
create schema if not exists {{ target.schema }};

create or replace function {{ target.schema }}.cobranza_damerau_levenshtein(a text, b text)
returns integer
language plpgsql immutable strict parallel safe
as $fn$
declare
    chars_a text[] := string_to_array(a, null);
    chars_b text[] := string_to_array(b, null);
    m integer := length(a);
    n integer := length(b);
    width integer := length(b) + 2;
    max_dist integer := length(a) + length(b);
    -- d[i, j] for i in -1..m, j in -1..n, stored row-major from index 1
    d integer[] := array_fill(0, array[(length(a) + 2) * (length(b) + 2)]);
    last_row_keys text[] := '{}';
    last_row_values integer[] := '{}';
    pos integer;
    i integer;
    j integer;
    k integer;
    l integer;
    db integer;
    cost integer;
begin
    d[1] := max_dist;
    for i in 0..m loop
        d[(i + 1) * width + 1] := max_dist;
        d[(i + 1) * width + 2] := i;
    end loop;
    for j in 0..n loop
        d[j + 2] := max_dist;
        d[width + j + 2] := j;
    end loop;
    for i in 1..m loop
        db := 0;
        for j in 1..n loop
            pos := array_position(last_row_keys, chars_b[j]);
            k := coalesce(last_row_values[pos], 0);
            l := db;
            if chars_a[i] = chars_b[j] then
                cost := 0;
                db := j;
            else
                cost := 1;
            end if;
            d[(i + 1) * width + j + 2] := least(
                d[i * width + j + 1] + cost,
                d[(i + 1) * width + j + 1] + 1,
                d[i * width + j + 2] + 1,
                d[k * width + l + 1] + (i - k - 1) + 1 + (j - l - 1)
            );
        end loop;
        pos := array_position(last_row_keys, chars_a[i]);
        if pos is null then
            last_row_keys := last_row_keys || chars_a[i];
            last_row_values := last_row_values || i;
        else
            last_row_values[pos] := i;
        end if;
    end loop;
    return d[(m + 1) * width + n + 2];
end
$fn$;

create or replace function {{ target.schema }}.cobranza_float8_exact(x double precision)
returns numeric
language plpgsql immutable strict parallel safe
as $fn$
declare
    bits bigint := ('x' || encode(float8send(x), 'hex'))::bit(64)::bigint;
    biased_exponent integer := ((bits >> 52) & 2047)::integer;
    mantissa bigint := bits & 4503599627370495;
    exponent integer;
    magnitude numeric;
begin
    if biased_exponent = 0 then
        exponent := -1074;
    else
        mantissa := mantissa | 4503599627370496;
        exponent := biased_exponent - 1075;
    end if;
    if exponent >= 0 then
        magnitude := mantissa::numeric * power(2::numeric, exponent);
    else
        -- 2^-k = 5^k * 10^-k, both exact in NUMERIC
        magnitude := mantissa::numeric * power(5::numeric, -exponent) * ('1e' || exponent)::numeric;
    end if;
    return case when bits < 0 then -magnitude else magnitude end;
end
$fn$;

create or replace function {{ target.schema }}.cobranza_jaro_winkler_similarity(a text, b text)
returns double precision
language plpgsql immutable strict parallel safe
as $fn$
declare
    chars_a text[] := string_to_array(a, null);
    chars_b text[] := string_to_array(b, null);
    len_a integer := length(a);
    len_b integer := length(b);
    bound integer := greatest(greatest(length(a), length(b)) / 2 - 1, 0);
    matched_a boolean[] := array_fill(false, array[greatest(length(a), 1)]);
    matched_b boolean[] := array_fill(false, array[greatest(length(b), 1)]);
    n_matches integer := 0;
    n_transpositions integer := 0;
    prefix integer := 0;
    similarity double precision;
    i integer;
    j integer;
begin
    if len_a = 0 or len_b = 0 then
        return 0;
    end if;
    for i in 1..len_a loop
        for j in greatest(1, i - bound)..least(len_b, i + bound) loop
            if not matched_b[j] and chars_a[i] = chars_b[j] then
                matched_a[i] := true;
                matched_b[j] := true;
                n_matches := n_matches + 1;
                exit;
            end if;
        end loop;
    end loop;
    if n_matches = 0 then
        return 0;
    end if;
    j := 1;
    for i in 1..len_a loop
        if matched_a[i] then
            while not matched_b[j] loop
                j := j + 1;
            end loop;
            if chars_a[i] <> chars_b[j] then
                n_transpositions := n_transpositions + 1;
            end if;
            j := j + 1;
        end if;
    end loop;
    n_transpositions := n_transpositions / 2;
    similarity := cast(n_matches as double precision) / cast(len_a as double precision)
        + cast(n_matches as double precision) / cast(len_b as double precision);
    similarity := similarity
        + cast(n_matches - n_transpositions as double precision) / cast(n_matches as double precision);
    similarity := similarity / cast(3 as double precision);
    if similarity > cast(0.7 as double precision) then
        while prefix < least(4, len_a, len_b) and chars_a[prefix + 1] = chars_b[prefix + 1] loop
            prefix := prefix + 1;
        end loop;
        -- fused multiply-add: prefix * 0.1 and 1 - similarity are rounded, the rest is exact
        similarity := cast(
            {{ target.schema }}.cobranza_float8_exact(cast(prefix as double precision) * cast(0.1 as double precision))
            * {{ target.schema }}.cobranza_float8_exact(cast(1 as double precision) - similarity)
            + {{ target.schema }}.cobranza_float8_exact(similarity)
            as double precision
        );
    end if;
    return similarity;
end
$fn$;

create or replace function {{ target.schema }}.cobranza_jaro_winkler_at_least(a text, b text, at_least double precision)
returns double precision
language plpgsql immutable strict parallel safe
as $fn$
declare
    len_a integer := length(a);
    len_b integer := length(b);
    bound integer := greatest(greatest(length(a), length(b)) / 2 - 1, 0);
    jaro_at_least double precision := (at_least - 0.4) / 0.6;
    max_misses integer;
    free_b text := b;
    common_a text := '';
    common_b text := '';
    n_matches integer;
    n_transpositions integer := 0;
    prefix integer := 0;
    similarity double precision;
    lo integer;
    hi integer;
    mid integer;
    i integer;
    j integer;
begin
    -- chr(1) marks matched characters: strings holding it take the general function
    if strpos(a || b, chr(1)) > 0 then
        similarity := {{ target.schema }}.cobranza_jaro_winkler_similarity(a, b);
        return case when similarity >= at_least then similarity else 0 end;
    end if;
    if len_a = 0 or len_b = 0 then
        return 0;
    end if;
    if a = b then
        return 1;
    end if;
    -- a character of a without a match is lost for good; jaro <= (m / len_a + m / len_b + 1) / 3
    -- and jw <= 0.4 + 0.6 * jaro, so this many misses at most (one match of slack for rounding)
    max_misses := len_a - (floor((jaro_at_least * 3 - 1) / (1.0 / len_a + 1.0 / len_b)) - 1);
    if max_misses < 0 then
        return 0;
    end if;
    -- the common prefix matches position by position (every earlier position is taken), so it is
    -- skipped; its length is found by bisection, in a few comparisons (names in a block share 10+)
    lo := 0;
    hi := least(len_a, len_b);
    while lo < hi loop
        mid := (lo + hi + 1) / 2;
        if left(a, mid) = left(b, mid) then
            lo := mid;
        else
            hi := mid - 1;
        end if;
    end loop;
    prefix := lo;
    free_b := repeat(chr(1), prefix) || substr(b, prefix + 1);
    common_a := left(a, prefix);
    for i in prefix + 1..len_a loop
        lo := greatest(1, i - bound);
        -- past the end of b's window (a much longer than b): nothing left to match
        j := strpos(substr(free_b, lo, greatest(least(len_b, i + bound) - lo + 1, 0)), substr(a, i, 1));
        if j > 0 then
            free_b := overlay(free_b placing chr(1) from j + lo - 1 for 1);
            common_a := common_a || substr(a, i, 1);
        elsif i - length(common_a) > max_misses then
            return 0;
        end if;
    end loop;
    n_matches := length(common_a);
    -- the same bound with the matches found (no transpositions yet), before counting them
    if n_matches = 0
        or (cast(n_matches as double precision) / len_a + cast(n_matches as double precision) / len_b + 1) / 3
            < jaro_at_least - 1e-9 then
        return 0;
    end if;
    common_b := left(b, prefix);
    for j in prefix + 1..len_b loop
        if substr(free_b, j, 1) = chr(1) then
            common_b := common_b || substr(b, j, 1);
        end if;
    end loop;
    for i in prefix + 1..n_matches loop
        if substr(common_a, i, 1) <> substr(common_b, i, 1) then
            n_transpositions := n_transpositions + 1;
        end if;
    end loop;
    n_transpositions := n_transpositions / 2;
    similarity := cast(n_matches as double precision) / cast(len_a as double precision)
        + cast(n_matches as double precision) / cast(len_b as double precision);
    similarity := similarity
        + cast(n_matches - n_transpositions as double precision) / cast(n_matches as double precision);
    similarity := similarity / cast(3 as double precision);
    if similarity > cast(0.7 as double precision) then
        prefix := least(prefix, 4);
        similarity := cast(
            {{ target.schema }}.cobranza_float8_exact(cast(prefix as double precision) * cast(0.1 as double precision))
            * {{ target.schema }}.cobranza_float8_exact(cast(1 as double precision) - similarity)
            + {{ target.schema }}.cobranza_float8_exact(similarity)
            as double precision
        );
    end if;
    return similarity;
end
$fn$;

create or replace function {{ target.schema }}.cobranza_is_one_edit_apart(a text, b text)
returns boolean
language plpgsql immutable strict parallel safe
as $fn$
declare
    len_a integer := length(a);
    len_b integer := length(b);
    p integer := 0;
begin
    if abs(len_a - len_b) > 1 or a = b then
        return false;
    end if;
    while p < least(len_a, len_b) and substr(a, p + 1, 1) = substr(b, p + 1, 1) loop
        p := p + 1;
    end loop;
    -- p: length of the common prefix; the edit is at position p + 1
    if len_a = len_b then
        return substr(a, p + 2) = substr(b, p + 2)
            or (
                substr(a, p + 1, 1) = substr(b, p + 2, 1)
                and substr(a, p + 2, 1) = substr(b, p + 1, 1)
                and substr(a, p + 3) = substr(b, p + 3)
            );
    elsif len_a = len_b + 1 then
        return substr(a, p + 2) = substr(b, p + 1);
    else
        return substr(a, p + 1) = substr(b, p + 2);
    end if;
end
$fn$;

create or replace function {{ target.schema }}.cobranza_character_bag(name text)
returns bit(592)
language plpgsql immutable strict parallel safe
as $fn$
declare
    alphabet constant text := 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ';
    counts integer[] := array_fill(0, array[37]);
    bag bit(592) := cast(repeat('0', 592) as bit(592));
    c integer;
    i integer;
begin
    for i in 1..length(name) loop
        c := strpos(alphabet, substr(name, i, 1));
        if c = 0 or counts[c] = 16 then
            return null;
        end if;
        counts[c] := counts[c] + 1;
        bag := set_bit(bag, (c - 1) * 16 + counts[c] - 1, 1);
    end loop;
    return bag;
end
$fn$;

-- the functions the models call: on the C extension when the server has it, else PL/pgSQL
do $do$
begin
    if {{ 'true' if var('postgres_c_strings', true) else 'false' }}
        and exists (select 1 from pg_available_extensions where name = 'cobranza_strings') then
        create extension if not exists cobranza_strings schema {{ target.schema }};
    end if;
    if {{ 'true' if var('postgres_c_strings', true) else 'false' }}
        and exists (select 1 from pg_extension where extname = 'cobranza_strings') then
        create or replace function {{ target.schema }}.cobranza_name_similarity_at_least(
            a text, b text, at_least double precision, bag_a bit, bag_b bit
        )
        returns double precision
        language sql immutable parallel safe
        as $fn$ select {{ target.schema }}.cobranza_jaro_winkler_at_least_c(a, b, at_least) $fn$;
        create or replace function {{ target.schema }}.cobranza_name_bag(name text)
        returns bit
        language sql immutable parallel safe
        as $fn$ select cast(null as bit(592)) $fn$;
    else
        -- the bag bound (Jaro <= (m / len_a + m / len_b + 1) / 3 with m matches, Jaro-Winkler
        -- <= 0.4 + 0.6 * Jaro; 1e-9 of slack) before the PL/pgSQL function
        create or replace function {{ target.schema }}.cobranza_name_similarity_at_least(
            a text, b text, at_least double precision, bag_a bit, bag_b bit
        )
        returns double precision
        language sql immutable parallel safe
        as $fn$
            select case
                when bag_a is null or bag_b is null
                    or 0.4 + 0.6 * (
                        cast(bit_count(bag_a & bag_b) as numeric) / greatest(length(a), 1)
                        + cast(bit_count(bag_a & bag_b) as numeric) / greatest(length(b), 1)
                        + 1
                    ) / 3 >= at_least - 1e-9
                    then {{ target.schema }}.cobranza_jaro_winkler_at_least(a, b, at_least)
                else 0
            end
        $fn$;
        create or replace function {{ target.schema }}.cobranza_name_bag(name text)
        returns bit
        language sql immutable parallel safe
        as $fn$ select {{ target.schema }}.cobranza_character_bag(name) $fn$;
    end if;
end
$do$;
{%- endmacro %}
