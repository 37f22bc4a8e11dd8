-- One row per (customer, bank account) where an established customer's payments switched to an
-- account it never paid from (redirection / business-e-mail compromise, DESIGN.md §13): the
-- customer paid at least alert_payer_min_history times first (bank lines without an account count,
-- but at least one came from another account), its next alert_payer_min_run payments with an
-- account all came from the new account, and none since came from another account: a redirection
-- moves every payment, while a customer whose second account (used now and then) happened to pay a
-- few times running goes back to its usual one. An account another customer paid from before this
-- customer's first use of it is lapping, not a new account (int_alert_signals_lapping).
-- first_seen_date = booking of the run's last payment (the day the evidence was complete).
with payments as (
    select * from {{ ref('int_alert_payments_by_payer') }}
),

-- seq numbers every payment of the customer (history counts payments the bank gave no account
-- for too); account_seq numbers only those with an account (a run is of consecutive ones)
renumbered as (
    select
        *,
        row_number() over (partition by customer_id order by booking_date, bank_txn_id) as seq,
        case when counterparty_iban is not null then row_number() over (
            partition by customer_id, counterparty_iban is not null order by booking_date, bank_txn_id
        ) end as account_seq
    from payments
),

first_use as (
    select customer_id, counterparty_iban, min(seq) as first_seq, min(account_seq) as first_account_seq
    from renumbered
    where counterparty_iban is not null
    group by customer_id, counterparty_iban
),

-- accounts some other customer paid from before this customer's first payment from them
owned_elsewhere as (
    select distinct first_use.counterparty_iban, first_use.customer_id
    from first_use
    inner join renumbered as a
        on first_use.customer_id = a.customer_id and a.seq = first_use.first_seq
    inner join renumbered as b
        on first_use.counterparty_iban = b.counterparty_iban
        and first_use.customer_id <> b.customer_id
        and b.booking_date < a.booking_date
),

runs as (
    select
        first_use.customer_id,
        first_use.counterparty_iban,
        first_use.first_seq,
        first_use.first_account_seq,
        count(*) as n_run,
        max(renumbered.booking_date) as run_end_date,
        min(renumbered.booking_date) as run_start_date,
        sum(renumbered.amount) as amount,
        {{ any_value('renumbered.currency') }} as currency,
        string_agg(renumbered.bank_txn_id, ',' order by renumbered.seq) as evidence
    from first_use
    inner join renumbered
        on first_use.customer_id = renumbered.customer_id
        and renumbered.account_seq >= first_use.first_account_seq
        and renumbered.account_seq < first_use.first_account_seq + {{ var('alert_payer_min_run', 3) }}
    where first_use.first_seq > {{ var('alert_payer_min_history', 3) }}
        and first_use.first_account_seq > 1  -- it paid from another account before
    group by first_use.customer_id, first_use.counterparty_iban, first_use.first_seq, first_use.first_account_seq
),

final as (
    select
        'new_payer_account' as signal,
        runs.customer_id,
        runs.counterparty_iban as evidence_key,
        'high' as severity,
        cast(runs.n_run as double precision) as score,
        runs.run_end_date as first_seen_date,
        cast(runs.amount as decimal(38, 2)) as amount,
        runs.currency,
        runs.evidence,
        'payments switched to new account ' || runs.counterparty_iban || ' after '
            || cast(runs.first_seq - 1 as varchar) || ' payments from known accounts' as description
    from runs
    -- every payment from the run's first on is from the new account
    where runs.n_run = {{ var('alert_payer_min_run', 3) }}
        and not exists (
            select 1 from renumbered as r
            where r.customer_id = runs.customer_id
                and r.account_seq >= runs.first_account_seq
                and r.counterparty_iban <> runs.counterparty_iban
        )
        and not exists (
            select 1 from owned_elsewhere as o
            where o.counterparty_iban = runs.counterparty_iban and o.customer_id = runs.customer_id
        )
)

select * from final
