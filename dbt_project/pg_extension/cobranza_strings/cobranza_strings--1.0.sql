-- cobranza_strings 1.0: Jaro-Winkler similarity in C (see cobranza_strings.c).
\echo Use "CREATE EXTENSION cobranza_strings" to load this file. \quit

create function cobranza_jaro_winkler_c(a text, b text)
returns double precision
as 'MODULE_PATHNAME', 'cobranza_jaro_winkler_c'
language c immutable strict parallel safe;

create function cobranza_jaro_winkler_at_least_c(a text, b text, at_least double precision)
returns double precision
as 'MODULE_PATHNAME', 'cobranza_jaro_winkler_at_least_c'
language c immutable strict parallel safe;

create function cobranza_jaro_winkler_pairs(a text[], b text[], at_least double precision)
returns table (i integer, j integer, similarity double precision)
as 'MODULE_PATHNAME', 'cobranza_jaro_winkler_pairs'
language c immutable strict parallel safe rows 100;

create function cobranza_jaro_winkler_bits(a text, b text)
returns double precision
as 'MODULE_PATHNAME', 'cobranza_jaro_winkler_bits'
language c immutable strict parallel safe;
