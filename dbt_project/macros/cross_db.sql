{#-
  Portable SQL for the two warehouse targets (DuckDB by default, Postgres for scale-out).

  dbt's own cross-database macros (dbt.datediff, dbt.dateadd, ...) cover most needs; these cover
  the rest. Each dispatches on the adapter, so a model reads the same on both targets.
-#}

{#- The first row per key, in place of QUALIFY (Postgres has none). Adds a `_row_number` column:
    select named columns from it. -#}
{% macro first_row_per(relation, partition_by, order_by) -%}
    select *
    from (
        select
            {{ relation }}.*,
            row_number() over (partition by {{ partition_by }} order by {{ order_by }}) as _row_number
        from {{ relation }}
    ) as ranked
    where _row_number = 1
{%- endmacro %}

{#- Whole days from `start` to `end` (dates): end - start. -#}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between', 'cobranza')(start, end)) }}
{%- endmacro %}
{% macro default__days_between(start, end) -%}
    cast(cast({{ end }} as date) - cast({{ start }} as date) as integer)
{%- endmacro %}

{#- A date `n` days after `day` (n may be negative or an expression), as a DATE. -#}
{% macro add_days(day, n) -%}
    {{ return(adapter.dispatch('add_days', 'cobranza')(day, n)) }}
{%- endmacro %}
{% macro default__add_days(day, n) -%}
    cast(cast({{ day }} as date) + cast({{ n }} as integer) as date)
{%- endmacro %}

{#- Month number of `day` counted back from `anchor` (0 = same month). -#}
{% macro months_between(start, end) -%}
    cast((extract(year from {{ end }}) - extract(year from {{ start }})) * 12
         + extract(month from {{ end }}) - extract(month from {{ start }}) as integer)
{%- endmacro %}

{#- The last day of the month of `day`, as a DATE. -#}
{% macro last_day_of_month(day) -%}
    cast(cast(date_trunc('month', {{ day }}) as date) + interval '1 month' - interval '1 day' as date)
{%- endmacro %}

{#- A JSON array (as text) of one JSON object per row of the group, in `order_by` order.
    `fields` is a list of (key, sql expression) pairs. -#}
{% macro json_object_array(fields, order_by) -%}
    {{ return(adapter.dispatch('json_object_array', 'cobranza')(fields, order_by)) }}
{%- endmacro %}
{% macro default__json_object_array(fields, order_by) -%}
    cast(to_json(list(struct_pack(
        {%- for key, expr in fields %}
        {{ key }} := {{ expr }}{{ "," if not loop.last }}
        {%- endfor %}
    ) order by {{ order_by }})) as varchar)
{%- endmacro %}
{% macro postgres__json_object_array(fields, order_by) -%}
    cast(json_agg(json_build_object(
        {%- for key, expr in fields %}
        '{{ key }}', {{ expr }}{{ "," if not loop.last }}
        {%- endfor %}
    ) order by {{ order_by }}) as varchar)
{%- endmacro %}

{#- The text of a top-level key of a JSON value (NULL when absent). -#}
{% macro json_field_text(json_value, key) -%}
    {{ return(adapter.dispatch('json_field_text', 'cobranza')(json_value, key)) }}
{%- endmacro %}
{% macro default__json_field_text(json_value, key) -%}
    json_extract_string({{ json_value }}, '$.{{ key }}')
{%- endmacro %}
{% macro postgres__json_field_text(json_value, key) -%}
    (cast({{ json_value }} as json) ->> '{{ key }}')
{%- endmacro %}

{#- Every match of `pattern` in `text`, one row per match, as a set-returning expression. -#}
{% macro regexp_matches_unnested(text, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches_unnested', 'cobranza')(text, pattern)) }}
{%- endmacro %}
{% macro default__regexp_matches_unnested(text, pattern) -%}
    unnest(regexp_extract_all({{ text }}, '{{ pattern }}'))
{%- endmacro %}
{% macro postgres__regexp_matches_unnested(text, pattern) -%}
    (regexp_matches({{ text }}, '{{ pattern }}', 'g'))[1]
{%- endmacro %}

{#- The double-precision float type. -#}
{% macro type_double() -%}
    double precision
{%- endmacro %}

{#- Any one value of `expr` in the group (for columns constant within it). Postgres 15 has no
    any_value: min() picks the same value when it is constant, and a deterministic one otherwise. -#}
{% macro any_value(expr) -%}
    {{ return(adapter.dispatch('any_value', 'cobranza')(expr)) }}
{%- endmacro %}
{% macro default__any_value(expr) -%}
    any_value({{ expr }})
{%- endmacro %}
{% macro postgres__any_value(expr) -%}
    min({{ expr }})
{%- endmacro %}

{#- The value of `arg` on the first row of the group in the order `order_by` (a SQL order list,
    e.g. "confidence desc, step"): the arg-max with an explicit tie-break, so both targets agree. -#}
{% macro first_by(arg, order_by) -%}
    {{ return(adapter.dispatch('first_by', 'cobranza')(arg, order_by)) }}
{%- endmacro %}
{% macro default__first_by(arg, order_by) -%}
    first({{ arg }} order by {{ order_by }})
{%- endmacro %}
{% macro postgres__first_by(arg, order_by) -%}
    (array_agg({{ arg }} order by {{ order_by }}))[1]
{%- endmacro %}

{#- An interval of `n` days (n a literal), to add to or subtract from a date. -#}
{% macro interval_days(n) -%}
    {{ return(adapter.dispatch('interval_days', 'cobranza')(n)) }}
{%- endmacro %}
{% macro default__interval_days(n) -%}
    interval {{ n }} day
{%- endmacro %}
{% macro postgres__interval_days(n) -%}
    interval '{{ n }} day'
{%- endmacro %}

{#- The integers from `start` up to but excluding `stop`, as a table function for a lateral join. -#}
{% macro integer_range(start, stop) -%}
    {{ return(adapter.dispatch('integer_range', 'cobranza')(start, stop)) }}
{%- endmacro %}
{% macro default__integer_range(start, stop) -%}
    range({{ start }}, {{ stop }})
{%- endmacro %}
{% macro postgres__integer_range(start, stop) -%}
    generate_series({{ start }}, {{ stop }} - 1)
{%- endmacro %}

{#- The first `n` characters of `text` (n >= 0). -#}
{% macro string_head(text, n) -%}
    {{ return(adapter.dispatch('string_head', 'cobranza')(text, n)) }}
{%- endmacro %}
{% macro default__string_head(text, n) -%}
    {{ text }}[:{{ n }}]
{%- endmacro %}
{% macro postgres__string_head(text, n) -%}
    left({{ text }}, {{ n }})
{%- endmacro %}

{#- The characters of `text` from position `start` (1-based) to the end. -#}
{% macro string_tail(text, start) -%}
    {{ return(adapter.dispatch('string_tail', 'cobranza')(text, start)) }}
{%- endmacro %}
{% macro default__string_tail(text, start) -%}
    {{ text }}[{{ start }}:]
{%- endmacro %}
{% macro postgres__string_tail(text, start) -%}
    substr({{ text }}, {{ start }})
{%- endmacro %}

{#- `relation` without the rows whose `key` appears in `excluded` (an anti join), usable in a FROM
    clause: on Postgres a derived table keeping the relation's name. -#}
{% macro anti_join(relation, excluded, key) -%}
    {{ return(adapter.dispatch('anti_join', 'cobranza')(relation, excluded, key)) }}
{%- endmacro %}
{% macro default__anti_join(relation, excluded, key) -%}
    {{ relation }}
    anti join {{ excluded }} using ({{ key }})
{%- endmacro %}
{% macro postgres__anti_join(relation, excluded, key) -%}
    (
        select * from {{ relation }}
        where not exists (
            select 1 from {{ excluded }} where {{ excluded }}.{{ key }} = {{ relation }}.{{ key }}
        )
    ) as {{ relation }}
{%- endmacro %}

{#- `select columns from relation` keeping only the rows where `condition` (which may use window
    functions) holds, in place of QUALIFY. -#}
{% macro select_qualified(columns, relation, condition) -%}
    {{ return(adapter.dispatch('select_qualified', 'cobranza')(columns, relation, condition)) }}
{%- endmacro %}
{% macro default__select_qualified(columns, relation, condition) -%}
    select {{ columns }}
    from {{ relation }}
    qualify {{ condition }}
{%- endmacro %}
{% macro postgres__select_qualified(columns, relation, condition) -%}
    select {{ columns }}
    from (select *, {{ condition }} as _is_qualified from {{ relation }}) as qualified
    where _is_qualified
{%- endmacro %}

{#- The first `n` distinct values of `expr` in the group, in ascending order, as an array. -#}
{% macro distinct_sorted_array_head(expr, n) -%}
    {{ return(adapter.dispatch('distinct_sorted_array_head', 'cobranza')(expr, n)) }}
{%- endmacro %}
{% macro default__distinct_sorted_array_head(expr, n) -%}
    list(distinct {{ expr }} order by {{ expr }})[:{{ n }}]
{%- endmacro %}
{% macro postgres__distinct_sorted_array_head(expr, n) -%}
    (array_agg(distinct {{ expr }} order by {{ expr }}))[1:{{ n }}]
{%- endmacro %}

{#- An empty array of strings. -#}
{% macro empty_varchar_array() -%}
    {{ return(adapter.dispatch('empty_varchar_array', 'cobranza')()) }}
{%- endmacro %}
{% macro default__empty_varchar_array() -%}
    []::varchar[]
{%- endmacro %}
{% macro postgres__empty_varchar_array() -%}
    cast(array[] as varchar[])
{%- endmacro %}

{#- `text` with its accents removed (canonical decomposition, combining marks dropped). Postgres:
    normalize to NFD and drop the combining diacritical mark blocks, as DuckDB's strip_accents. -#}
{% macro strip_accents(text) -%}
    {{ return(adapter.dispatch('strip_accents', 'cobranza')(text)) }}
{%- endmacro %}
{% macro default__strip_accents(text) -%}
    strip_accents({{ text }})
{%- endmacro %}
{% macro postgres__strip_accents(text) -%}
    regexp_replace(
        normalize({{ text }}, NFD),
        '[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g'
    )
{%- endmacro %}

{#- Damerau-Levenshtein distance (unrestricted: adjacent transpositions, edits in between allowed).
    Postgres: a function created by `create_string_functions` (on-run-start). -#}
{% macro damerau_levenshtein(left, right) -%}
    {{ return(adapter.dispatch('damerau_levenshtein', 'cobranza')(left, right)) }}
{%- endmacro %}
{% macro default__damerau_levenshtein(left, right) -%}
    damerau_levenshtein({{ left }}, {{ right }})
{%- endmacro %}
{% macro postgres__damerau_levenshtein(left, right) -%}
    {{ target.schema }}.cobranza_damerau_levenshtein({{ left }}, {{ right }})
{%- endmacro %}

{#- Jaro-Winkler similarity (0..1; prefix weight 0.1 on up to 4 characters, applied above 0.7).
    Postgres: a function created by `create_string_functions` (on-run-start). -#}
{% macro jaro_winkler_similarity(left, right) -%}
    {{ return(adapter.dispatch('jaro_winkler_similarity', 'cobranza')(left, right)) }}
{%- endmacro %}
{% macro default__jaro_winkler_similarity(left, right) -%}
    jaro_winkler_similarity({{ left }}, {{ right }})
{%- endmacro %}
{% macro postgres__jaro_winkler_similarity(left, right) -%}
    {{ target.schema }}.cobranza_jaro_winkler_similarity({{ left }}, {{ right }})
{%- endmacro %}

{#- Jaro-Winkler similarity of `left` and `right` where it is at least `threshold`; below it, any
    value under `threshold` (callers keep only the pairs that reach it). `left_bag`/`right_bag`:
    the strings' `character_bag`s. Postgres: `cobranza_name_similarity_at_least`, created by
    `create_string_functions` on the C extension when the server has it, else as the bag bound
    (pairs whose characters cannot reach the threshold score 0) before a PL/pgSQL function that
    stops as soon as the threshold is out of reach. -#}
{% macro jaro_winkler_similarity_at_least(left, right, threshold, left_bag, right_bag) -%}
    {{ return(adapter.dispatch('jaro_winkler_similarity_at_least', 'cobranza')(left, right, threshold, left_bag, right_bag)) }}
{%- endmacro %}
{% macro default__jaro_winkler_similarity_at_least(left, right, threshold, left_bag, right_bag) -%}
    jaro_winkler_similarity({{ left }}, {{ right }})
{%- endmacro %}
{% macro postgres__jaro_winkler_similarity_at_least(left, right, threshold, left_bag, right_bag) -%}
    {{ target.schema }}.cobranza_name_similarity_at_least(
        {{ left }}, {{ right }}, cast({{ threshold }} as double precision), {{ left_bag }}, {{ right_bag }}
    )
{%- endmacro %}

{#- The multiset of characters of `text`, for `jaro_winkler_similarity_at_least`. DuckDB needs none
    (null); Postgres: a bit string (null when the C extension does the comparison). -#}
{% macro character_bag(text) -%}
    {{ return(adapter.dispatch('character_bag', 'cobranza')(text)) }}
{%- endmacro %}
{% macro default__character_bag(text) -%}
    null
{%- endmacro %}
{% macro postgres__character_bag(text) -%}
    {{ target.schema }}.cobranza_name_bag({{ text }})
{%- endmacro %}

{#- Whether `left` and `right` are exactly one Damerau-Levenshtein edit apart. Postgres: a linear
    check (created by `create_string_functions`) instead of the full distance. -#}
{% macro is_one_edit_apart(left, right) -%}
    {{ return(adapter.dispatch('is_one_edit_apart', 'cobranza')(left, right)) }}
{%- endmacro %}
{% macro default__is_one_edit_apart(left, right) -%}
    {{ damerau_levenshtein(left, right) }} = 1
{%- endmacro %}
{% macro postgres__is_one_edit_apart(left, right) -%}
    {{ target.schema }}.cobranza_is_one_edit_apart({{ left }}, {{ right }})
{%- endmacro %}
