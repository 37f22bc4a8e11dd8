-- One row per customer whose interaction thread may have changed in the incremental models'
-- look-back window (macros/incremental.sql): a CRM touch, a contact task, a task event or an agent
-- decision in it, or a quarantined CRM interaction.
{{ config(materialized='table') }}

select distinct customer_id from ({{ changed_interaction_customers_sql() }}) as changed
where customer_id is not null
