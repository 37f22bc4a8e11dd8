-- One row per customer payment known on the run date: ERP allocations recorded and dated by then,
-- plus bank payments cash application matched that the ERP has not recorded yet (fct_payments),
-- with the KPI group of the paying customer (segment, country; the payment currency) and the rate
-- to var('reporting_currency') valid on the run date. The payment base of the promise, recovery and
-- treatment-vs-control KPIs.
with allocations as (
    select * from {{ ref('stg_erp__payment_allocations') }}
    where recorded_date <= {{ as_of_date() }} and payment_date <= {{ as_of_date() }}
),

bank_payments as (
    select * from {{ ref('fct_payments') }}
    where not is_recorded_in_erp and amount_matched > 0 and customer_id is not null
),

customers as (
    select * from {{ ref('int_customers_segmented') }}
),

fx as (
    select * from {{ ref('int_fx_rates_selected') }}
),

payments as (
    select
        'erp:' || allocation_id as payment_id,
        customer_id,
        currency,
        payment_date,
        amount
    from allocations
    union all
    select
        'bank:' || bank_txn_id as payment_id,
        customer_id,
        currency,
        value_date as payment_date,
        amount_matched as amount
    from bank_payments
),

final as (
    select
        payments.*,
        {{ kpi_group_columns('payments') | indent(4) }}
    from payments
    left join customers using (customer_id)
    left join fx using (currency)
)

select * from final
