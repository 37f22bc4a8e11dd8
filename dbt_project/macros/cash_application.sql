{#-
    Cash-application helpers: check digits of structured payment references and the normal forms
    that bank texts and master data are compared in.

    - ISO 11649 creditor reference ("RF" + 2 check digits + up to 21 alphanumerics): move the first
      four characters to the end, letters to numbers (A=10 .. Z=35), the whole number mod 97 must be 1.
    - Swiss QR reference (QRR, 27 digits): the last digit is the recursive mod-10 check digit over the
      first 26 (SIX "Swiss Payment Standards", ISR/QR-bill), i.e. the recursive carry over all 27 is 0.
-#}

{% macro iso11649_is_valid(ref) -%}
    {{ return(adapter.dispatch('iso11649_is_valid', 'cobranza')(ref)) }}
{%- endmacro %}
{% macro default__iso11649_is_valid(ref) -%}
    coalesce(
        regexp_full_match({{ ref }}, 'RF[0-9]{2}[0-9A-Z]{1,21}')
        and list_reduce(
            list_transform(
                split(
                    list_aggregate(
                        list_transform(
                            split(substr({{ ref }}, 5) || substr({{ ref }}, 1, 4), ''),
                            lambda c: case when c between '0' and '9' then c else cast(ascii(c) - 55 as varchar) end
                        ),
                        'string_agg',
                        ''
                    ),
                    ''
                ),
                lambda d: coalesce(try_cast(d as integer), 0)
            ),
            lambda acc, d: (acc * 10 + d) % 97,
            0
        ) = 1,
        false
    )
{%- endmacro %}

{#- Postgres: the digit string as one NUMERIC (arbitrary precision) mod 97. The CASE keeps the
    conversion away from references that are not well-formed. -#}
{% macro postgres__iso11649_is_valid(ref) -%}
    case
        when {{ ref }} ~ '^RF[0-9]{2}[0-9A-Z]{1,21}$' then (
            select cast(string_agg(
                case when c between '0' and '9' then c else cast(ascii(c) - 55 as varchar) end, '' order by position
            ) as numeric) % 97 = 1
            from unnest(string_to_array(substr({{ ref }}, 5) || substr({{ ref }}, 1, 4), null))
                with ordinality as chars(c, position)
        )
        else false
    end
{%- endmacro %}

{% macro qrr_is_valid(ref) -%}
    {{ return(adapter.dispatch('qrr_is_valid', 'cobranza')(ref)) }}
{%- endmacro %}
{% macro default__qrr_is_valid(ref) -%}
    coalesce(
        regexp_full_match({{ ref }}, '[0-9]{27}')
        and list_reduce(
            list_transform(split({{ ref }}, ''), lambda d: coalesce(try_cast(d as integer), 0)),
            lambda carry, d: [0, 9, 4, 6, 8, 2, 7, 1, 3, 5][((carry + d) % 10) + 1],
            0
        ) = 0,
        false
    )
{%- endmacro %}

{#- Postgres: the recursive carry over the 27 digits, one step per row of a recursive CTE. -#}
{% macro postgres__qrr_is_valid(ref) -%}
    case
        when {{ ref }} ~ '^[0-9]{27}$' then (
            with recursive carry (position, value) as (
                select 0, 0
                union all
                select
                    position + 1,
                    (array[0, 9, 4, 6, 8, 2, 7, 1, 3, 5])[((value + cast(substr({{ ref }}, position + 1, 1) as integer)) % 10) + 1]
                from carry
                where position < 27
            )
            select value = 0 from carry where position = 27
        )
        else false
    end
{%- endmacro %}

{#- Upper-case ASCII letters and digits separated by single spaces: how names are compared. -#}
{% macro normalised_name(name) -%}
    trim(regexp_replace(upper({{ strip_accents("coalesce(" ~ name ~ ", '')") }}), '[^A-Z0-9]+', ' ', 'g'))
{%- endmacro %}

{#- The digits of an invoice number or of a number quoted in a bank text: the key they are matched on. -#}
{% macro number_key(text) -%}
    regexp_replace({{ text }}, '[^0-9]', '', 'g')
{%- endmacro %}

{#- A structured creditor reference whose check digits hold: ISO 11649 (RF) or Swiss QRR. -#}
{% macro is_valid_creditor_reference(ref) -%}
    ({{ iso11649_is_valid(ref) }} or {{ qrr_is_valid(ref) }})
{%- endmacro %}

{#- Whether `invoice` (a relation alias with issue_date and settled_known_date) may be what a line
    booked on `day` pays: issued in the two years up to that day and not known settled before it. -#}
{% macro invoice_payable_on(invoice, day) -%}
    {{ invoice }}.issue_date <= {{ day }}
        and {{ invoice }}.issue_date >= {{ day }} - {{ interval_days(730) }}
        and ({{ invoice }}.settled_known_date is null or {{ invoice }}.settled_known_date >= {{ day }})
{%- endmacro %}

{#- The step of the cash-application cascade a match method belongs to (1 = most trusted): the
    tie-break between allocations of equal confidence, so both warehouses pick the same method. -#}
{% macro cascade_step(method) -%}
    case {{ method }}
        when 'structured_reference' then 1
        when 'invoice_number' then 2
        when 'invoice_number_fuzzy' then 3
        when 'invoice_number_truncated' then 4
        when 'amount_completion' then 5
        when 'payer_amount' then 6
        else 7
    end
{%- endmacro %}
