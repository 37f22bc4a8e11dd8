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
-#}

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
{%- endmacro %}
