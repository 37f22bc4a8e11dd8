-- One row per CRM contact of a known customer, with the timezone to contact them in (the
-- contact's own address, else the customer's billing address) and whether they may be contacted.
with contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

customers as (
    select customer_id, country, timezone as customer_timezone from {{ ref('stg_erp__customers') }}
),

final as (
    select
        contacts.contact_id,
        contacts.customer_id,
        contacts.full_name,
        contacts.role,
        contacts.email,
        contacts.phone,
        contacts.language,
        coalesce(contacts.timezone, customers.customer_timezone) as timezone,
        customers.country,
        contacts.consent_email,
        contacts.consent_whatsapp,
        contacts.consent_sms,
        contacts.consent_call,
        contacts.preferred_channel,
        contacts.preferred_hour,
        contacts.role in ('debtor', 'guarantor') as is_contactable_party,
        contacts.updated_at
    from contacts
    inner join customers using (customer_id)
)

select * from final
