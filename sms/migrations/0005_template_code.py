"""``Template.template_id`` is called ``code`` in Python (it is the template's public ID, not a
foreign key's id). State only: the column keeps its name ``template_id``, nothing is rewritten."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sms", "0004_generic_message_sources")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="template", name="sms_template_id_per_account"
                ),
                migrations.RenameField(
                    model_name="template", old_name="template_id", new_name="code"
                ),
                migrations.AlterField(
                    model_name="template",
                    name="code",
                    field=models.CharField(
                        db_column="template_id",
                        help_text="The ID that sms_info.sms_template_id carries. For a template "
                        "that already exists at Tencent Cloud, give its Tencent TemplateId.",
                        max_length=40,
                        verbose_name="template ID",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="template",
                    constraint=models.UniqueConstraint(
                        fields=("account", "code"), name="sms_template_id_per_account"
                    ),
                ),
            ],
            database_operations=[],
        )
    ]
