-- One row per customer: master data plus exposure (open AR) against the credit limit as of the run date.
with customers as (
    select * from {{ ref('stg_erp__customers') }}
),

exposure as (
    select
        customer_id,
        sum(amount_open) as amount_open,
        sum(case when is_overdue then amount_open else 0 end) as amount_overdue,
        count(*) filter (where amount_open > 0) as n_open_invoices,
        max(days_past_due) as max_days_past_due
    from {{ ref('fct_invoices') }}
    group by customer_id
),

contacts as (
    select
        customer_id,
        count(*) as n_contacts,
        bool_or(consent_email or consent_whatsapp or consent_sms or consent_call) as has_consented_channel
    from {{ ref('stg_crm__contacts') }}
    where role in ('debtor', 'guarantor')
    group by customer_id
),

final as (
    select
        customers.customer_id,
        customers.customer_name,
        customers.tax_id,
        customers.country,
        customers.city,
        customers.timezone,
        customers.currency,
        customers.payment_terms_days,
        customers.credit_limit,
        customers.segment,
        coalesce(exposure.amount_open, 0) as amount_open,
        coalesce(exposure.amount_overdue, 0) as amount_overdue,
        coalesce(exposure.n_open_invoices, 0) as n_open_invoices,
        coalesce(exposure.max_days_past_due, 0) as max_days_past_due,
        case when customers.credit_limit > 0
             then cast(coalesce(exposure.amount_open, 0) / customers.credit_limit as {{ type_double() }}) end as credit_utilisation,
        coalesce(contacts.n_contacts, 0) as n_contacts,
        coalesce(contacts.has_consented_channel, false) as has_consented_channel
    from customers
    left join exposure using (customer_id)
    left join contacts using (customer_id)
)

select * from final
