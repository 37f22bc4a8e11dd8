-- One row per customer per run date: open AR, overdue, aging buckets and exposure against the
-- credit limit, in the customer's invoicing currency and in the reporting currency.
-- Incremental: a run replaces the rows of its own date (delete+insert on as_of_date, customer_id)
-- and leaves every other date alone, so the table accumulates one snapshot per run date.
-- full_refresh=false: `dbt build --full-refresh` (`cobranza run --full-refresh`) keeps the snapshots
-- of past dates, which cannot be rebuilt (the balances of a past day as the run saw them).
{{
    config(
        materialized='incremental',
        unique_key=['as_of_date', 'customer_id'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        full_refresh=false
    )
}}

with customers as (
    select * from {{ ref('stg_erp__customers') }}
),

invoices as (
    select * from {{ ref('fct_invoices') }}
    where status = 'posted' and amount_open > 0
),

{{ fx_valid_rates(as_of_date()) }},

fx as (
    {{ fx_rates_to_reporting(as_of_date()) | indent(4) }}
),

balances as (
    select
        customer_id,
        sum(amount_open) as amount_open,
        sum(case when aging_bucket = 'current' then amount_open else 0 end) as amount_current,
        sum(case when aging_bucket = '1-30' then amount_open else 0 end) as amount_1_30,
        sum(case when aging_bucket = '31-60' then amount_open else 0 end) as amount_31_60,
        sum(case when aging_bucket = '61-90' then amount_open else 0 end) as amount_61_90,
        sum(case when aging_bucket = '90+' then amount_open else 0 end) as amount_90_plus,
        sum(case when is_disputed then amount_open else 0 end) as amount_disputed,
        count(*) as n_open_invoices,
        count(*) filter (where is_overdue) as n_overdue_invoices,
        max(days_past_due) as max_days_past_due
    from invoices
    group by customer_id
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        customers.customer_id,
        cast(customers.segment as varchar) as segment,
        cast(customers.country as varchar) as country,
        cast(customers.currency as varchar) as currency,
        cast(coalesce(balances.amount_open, 0) as decimal(38, 2)) as amount_open,
        cast(coalesce(balances.amount_current, 0) as decimal(38, 2)) as amount_current,
        cast(coalesce(balances.amount_1_30, 0) as decimal(38, 2)) as amount_1_30,
        cast(coalesce(balances.amount_31_60, 0) as decimal(38, 2)) as amount_31_60,
        cast(coalesce(balances.amount_61_90, 0) as decimal(38, 2)) as amount_61_90,
        cast(coalesce(balances.amount_90_plus, 0) as decimal(38, 2)) as amount_90_plus,
        cast(coalesce(balances.amount_open, 0) - coalesce(balances.amount_current, 0) as decimal(38, 2))
            as amount_overdue,
        cast(coalesce(balances.amount_disputed, 0) as decimal(38, 2)) as amount_disputed,
        cast(coalesce(balances.n_open_invoices, 0) as bigint) as n_open_invoices,
        cast(coalesce(balances.n_overdue_invoices, 0) as bigint) as n_overdue_invoices,
        cast(coalesce(balances.max_days_past_due, 0) as integer) as max_days_past_due,
        customers.credit_limit,
        cast(customers.credit_limit - coalesce(balances.amount_open, 0) as decimal(38, 2)) as credit_available,
        case when customers.credit_limit > 0
             then cast(coalesce(balances.amount_open, 0) / customers.credit_limit as {{ type_double() }}) end
            as credit_utilisation,
        coalesce(customers.credit_limit is not null and coalesce(balances.amount_open, 0) > customers.credit_limit, false)
            as is_over_credit_limit,
        cast({{ reporting_currency() }} as varchar) as reporting_currency,
        fx.fx_rate_to_reporting,
        {{ to_reporting('coalesce(balances.amount_open, 0)', 'fx.fx_rate_to_reporting') }} as amount_open_reporting,
        {{ to_reporting('coalesce(balances.amount_open, 0) - coalesce(balances.amount_current, 0)', 'fx.fx_rate_to_reporting') }}
            as amount_overdue_reporting,
        {{ to_reporting('customers.credit_limit', 'fx.fx_rate_to_reporting') }} as credit_limit_reporting
    from customers
    left join balances using (customer_id)
    left join fx using (currency)
)

select * from final
