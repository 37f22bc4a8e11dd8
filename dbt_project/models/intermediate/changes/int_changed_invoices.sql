-- One row per invoice whose settlement or due amount may have changed in the incremental models'
-- look-back window (macros/incremental.sql): a new ERP version or issue, an allocation recorded, a
-- credit note issued or changed, or one of these records quarantined.
{{ config(materialized='table') }}

select distinct invoice_id from ({{ changed_invoices_sql() }}) as changed
where invoice_id is not null
