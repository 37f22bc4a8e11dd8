-- One row per (bank credit line booked up to the run date, customer the payer may be): the payer's
-- account was seen paying for that customer before the line's booking date, and/or the payer's name
-- is similar to the customer's (Jaro-Winkler on normalised names, or the bank's cut-off name being a
-- prefix of it). Names are only compared within a block sharing their first ten letters and digits
-- and the line's currency, never all lines against all customers.
-- Names only speak where the account does not: a line whose payer account is already learned for a
-- customer gets no name-only candidates, and a payer name keeps only the customers it resembles
-- best (within `name_similarity_tolerance` of its highest score). In a large book, names sharing a
-- company type and legal form score 0.92-0.95 against many other customers (profile L: 30.8M
-- candidate rows, 27.9M of them name-only, of which 23.3M on lines with a known account and none the
-- true payer); the rules leave 4.2M and keep every true payer (measured against the simulator's
-- ground truth: bench/RESULTS.md, "Payer candidates").
-- The CTEs of normalised names are `materialized` so each name is normalised (and, on Postgres,
-- bagged: see jaro_winkler_similarity_at_least) once per row: inlined (Postgres' default for a CTE
-- used once), the normalisation ran once per compared pair.
{%- set min_name_similarity = 0.92 %}
{%- set name_similarity_tolerance = 0.02 %}
with bank_credits as materialized (
    select
        bank_txn_id,
        booking_date,
        currency,
        counterparty_iban,
        {{ normalised_name('counterparty_name') }} as payer_name
    from {{ ref('int_bank_credits_booked') }}
),

accounts as (
    select * from {{ ref('int_payer_accounts_learned') }}
),

customers as (
    select
        customer_id,
        currency,
        {{ normalised_name('customer_name') }} as customer_name
    from {{ ref('stg_erp__customers') }}
),

by_account as (
    select bank_credits.bank_txn_id, accounts.customer_id, accounts.n_payments
    from bank_credits
    inner join accounts
        on bank_credits.counterparty_iban = accounts.counterparty_iban
        and accounts.first_learned_date < bank_credits.booking_date
),

payer_names as materialized (
    select
        currency,
        payer_name,
        left(replace(payer_name, ' ', ''), 10) as block_key,
        {{ character_bag('payer_name') }} as payer_name_bag
    from bank_credits
    where length(payer_name) >= 6
    group by currency, payer_name
),

customer_blocks as materialized (
    select
        customer_id,
        currency,
        customer_name,
        left(replace(customer_name, ' ', ''), 10) as block_key,
        {{ character_bag('customer_name') }} as customer_name_bag
    from customers
),

{%- if c_string_functions_available() %}
-- Postgres with the C extension (macros/string_functions.sql): one call per block compares all its
-- payer names with all its customers in C, so no executor row exists per pair (~350M at profile L);
-- the cut-off-name rule by equality on each customer name's prefixes of 12+ characters. A pair
-- found by both keeps the higher score, as greatest() below.
payer_name_lists as (
    select currency, block_key, array_agg(payer_name) as payer_names
    from payer_names
    group by currency, block_key
),

customer_lists as (
    select
        currency,
        block_key,
        array_agg(customer_name order by customer_id) as customer_names,
        array_agg(customer_id order by customer_id) as customer_ids
    from customer_blocks
    group by currency, block_key
),

-- materialized: inlined, PostgreSQL joined every payer name with every customer of its block
-- first (348M pairs at L) and tested the prefixes of each pair in a join filter
customer_prefixes as materialized (
    select customer_blocks.currency, customer_blocks.block_key, customer_blocks.customer_id,
        left(customer_blocks.customer_name, prefix_length) as name_prefix
    from customer_blocks
    cross join generate_series(12, length(customer_blocks.customer_name)) as prefix_length
),

similar_names as (
    select
        payer_name_lists.currency,
        payer_name_lists.payer_names[pairs.i] as payer_name,
        customer_lists.customer_ids[pairs.j] as customer_id,
        pairs.similarity as name_similarity
    from payer_name_lists
    inner join customer_lists using (currency, block_key)
    cross join lateral {{ target.schema }}.cobranza_jaro_winkler_pairs(
        payer_name_lists.payer_names, customer_lists.customer_names, cast({{ min_name_similarity }} as double precision)
    ) as pairs
    union all
    select payer_names.currency, payer_names.payer_name, customer_prefixes.customer_id, 0.97
    from payer_names
    inner join customer_prefixes
        on payer_names.currency = customer_prefixes.currency
        and payer_names.block_key = customer_prefixes.block_key
        and payer_names.payer_name = customer_prefixes.name_prefix
),

named_pairs as (
    select currency, payer_name, customer_id, max(name_similarity) as name_similarity
    from similar_names
    group by currency, payer_name, customer_id
),
{%- else %}
named_pairs as (
    select
        payer_names.currency,
        payer_names.payer_name,
        customer_blocks.customer_id,
        greatest(
            {{ jaro_winkler_similarity_at_least(
                'payer_names.payer_name',
                'customer_blocks.customer_name',
                min_name_similarity,
                'payer_names.payer_name_bag',
                'customer_blocks.customer_name_bag'
            ) }},
            case when length(payer_names.payer_name) >= 12 and starts_with(customer_blocks.customer_name, payer_names.payer_name)
                 then 0.97 else 0 end
        ) as name_similarity
    from payer_names
    inner join customer_blocks using (currency, block_key)
),
{%- endif %}

-- the customers each payer name resembles best (ties and near ties kept)
name_similarity as (
    select currency, payer_name, customer_id, name_similarity
    from (
        select
            currency,
            payer_name,
            customer_id,
            name_similarity,
            max(name_similarity) over (partition by currency, payer_name) as best_similarity
        from named_pairs
        where name_similarity >= {{ min_name_similarity }}
    ) as scored
    where name_similarity >= best_similarity - {{ name_similarity_tolerance }}
),

by_name as (
    select bank_credits.bank_txn_id, name_similarity.customer_id, name_similarity.name_similarity
    from bank_credits
    inner join name_similarity using (currency, payer_name)
),

lines_with_known_account as (
    select distinct bank_txn_id from by_account
),

final as (
    select
        by_account.bank_txn_id,
        by_account.customer_id,
        true as has_known_account,
        by_account.n_payments as n_account_payments,
        cast(coalesce(by_name.name_similarity, 0) as decimal(4, 3)) as name_similarity
    from by_account
    left join by_name using (bank_txn_id, customer_id)
    union all
    select
        by_name.bank_txn_id,
        by_name.customer_id,
        false as has_known_account,
        0 as n_account_payments,
        cast(by_name.name_similarity as decimal(4, 3)) as name_similarity
    from {{ anti_join('by_name', 'lines_with_known_account', 'bank_txn_id') }}
)

select * from final
